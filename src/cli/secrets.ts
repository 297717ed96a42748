// Passwords on the command line: read from standard input, asked for on a terminal without echo, or generated.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { text } from 'node:stream/consumers';
import { UsageError } from './report.js';

/** A strong password: 144 random bits as 24 URL-safe characters. */
export const generatePassword = (): string => randomBytes(18).toString('base64url');

/** Standard input as a password: its first line, without the line end (as `echo pw | …` gives it). */
export async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--password-stdin reads a pipe, not the terminal');
  const all = await text(process.stdin);
  const password = all.split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UsageError('--password-stdin: standard input held no password');
  return password;
}

/** Whether the user can be asked: standard input and standard error are terminals. */
export const canPrompt = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** Asks for a line (shown as typed) on the terminal; the question goes to stderr. */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/**
 * Applies typed characters to a hidden line: Enter (or Ctrl-D) ends it, Backspace removes a character,
 * Ctrl-U clears, Ctrl-C aborts; other control characters and escape sequences (arrow keys…) are ignored.
 */
export function editHidden(
  value: string,
  typed: string,
): { value: string; state: 'typing' | 'done' | 'aborted' } {
  let v = value;
  // eslint-disable-next-line no-control-regex
  for (const ch of typed.replace(/\u001b(\[[0-9;?]*[@-~]|O.|.)?/g, '')) {
    if (ch === '\r' || ch === '\n' || ch === '\u0004') return { value: v, state: 'done' };
    if (ch === '\u0003') return { value: '', state: 'aborted' };
    if (ch === '\u007f' || ch === '\b') v = [...v].slice(0, -1).join('');
    else if (ch === '\u0015') v = '';
    else if (ch >= ' ') v += ch;
  }
  return { value: v, state: 'typing' };
}

/** Asks for a secret on the terminal without echoing it (raw mode); Ctrl-C aborts the command. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: Buffer | string) => {
      const r = editHidden(value, chunk.toString());
      value = r.value;
      if (r.state === 'typing') return;
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (r.state === 'done') resolve(value);
      else reject(new Error('interrupted'));
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Asks twice for a new password on the terminal; they must match. */
export async function promptNewPassword(who: string): Promise<string> {
  const first = await promptHidden(`New password for ${who}: `);
  if (first === '') throw new UsageError('no password given');
  const again = await promptHidden('Again: ');
  if (again !== first) throw new UsageError('the two passwords differ: nothing changed');
  return first;
}
