// How a failure is reported: `berth: <code>: <message>` for errors the server answered, then their detail.
import { BerthError } from '../core/errors.js';
import { ApiError } from './client.js';

/** A mistake in how the command was called that commander cannot see (exit code 2, like its own). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

/** The detail as a line, unless it says nothing the message does not (every value in it is in the message). */
function describeDetail(detail: unknown, message: string): string | undefined {
  if (strings(detail).every((s) => message.includes(s))) return undefined;
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}

/** The lines printed for a failure: `berth: <code>: <message>` for the server's errors, then the detail. */
export function errorLines(e: unknown): string[] {
  if (e instanceof ApiError || e instanceof BerthError) {
    const fromServer = e instanceof BerthError || e.status !== undefined;
    const detail = describeDetail(e.detail, e.message);
    return [`berth: ${fromServer ? `${e.code}: ` : ''}${e.message}`, ...(detail ? [`berth: ${detail}`] : [])];
  }
  return [`berth: ${e instanceof Error ? e.message : String(e)}`];
}
