#!/usr/bin/env node
// The `signpost` command: `serve` (the default) runs the server.
import { Command } from 'commander';
import { serveCommand } from './serve.ts';

const program = new Command('signpost').description('DNS-SRV service discovery: register over HTTP, resolve over DNS');
const serve = serveCommand();
program.addCommand(serve, { isDefault: true });
// `signpost --help` shows the flags of `serve` too: it is the command almost everyone runs.
program.addHelpText('after', () => `\nsignpost serve (the default command):\n${serve.helpInformation()}`);

await program.parseAsync();
