import type { SignpostError } from '../../src/client/index.ts';

/** The error `promise` rejects with; fails the test if it resolves. */
export async function failure(promise: Promise<unknown>): Promise<SignpostError> {
  try {
    await promise;
  } catch (error) {
    return error as SignpostError;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
