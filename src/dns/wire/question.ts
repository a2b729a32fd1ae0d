// What the answer logic learnt about a query's question, handed to the forwarder for a question
// only an upstream can answer. Positions are offsets in the query's bytes.

export interface Question {
  /** End of the question name (after its zero byte): the name is plain labels, at most 255 bytes. */
  nameEnd: number;
  /** End of the question section: QTYPE and QCLASS (always IN) end here. */
  questionEnd: number;
  qtype: number;
  /** The client sent an OPT record, so the reply carries one. */
  edns: boolean;
  /** Its OPT record had the DO bit, which the reply's OPT echoes (RFC 3225). */
  dnssecOk: boolean;
  /** The most bytes a reply may hold over the client's transport and EDNS size, OPT included. */
  maxBytes: number;
}
