// `berth immutable add|list|remove` against an in-process server, and a refused tag change as the CLI reports it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-immutable');
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);

describe('berth immutable', () => {
  it('add, list, and a refused retag reported with the rule (exit 1); remove lets it through', async () => {
    expect((await berth('upload', fixture('base.dir.tar'), 'library/app:v1')).code).toBe(0);
    const empty = await berth('immutable', 'list');
    expect(empty.out).toBe('no immutability rules: every tag can be moved and deleted\n');
    const add = await berth('immutable', 'add', 'library/*', 'v*');
    expect(add.code, add.err).toBe(0);
    expect(add.out).toBe(
      'tags v* of repositories library/* are immutable: they cannot be moved or deleted\n',
    );
    const list = await berth('immutable', 'list');
    expect(list.out).toMatch(/^REPOSITORIES +TAGS +ADDED +BY\nlibrary\/\* +v\* +\S.* +admin\n$/);
    const json = JSON.parse((await berth('immutable', 'list', '--json')).out);
    expect(json.rules).toEqual([expect.objectContaining({ repository: 'library/*', tag: 'v*' })]);

    const retag = await berth('upload', fixture('app.docker.tar'), 'library/app:v1');
    expect(retag.code).toBe(1);
    expect(retag.err).toContain('tag v1 of library/app is immutable (rule: repositories library/*, tags v*)');
    expect(retag.err).toContain("berth immutable remove 'library/*' 'v*'");

    const remove = await berth('immutable', 'remove', 'library/*', 'v*');
    expect(remove.code, remove.err).toBe(0);
    expect(remove.out).toBe('tags v* of repositories library/* are no longer immutable\n');
    expect((await berth('upload', fixture('app.docker.tar'), 'library/app:v1')).code).toBe(0);
  });

  it('bad patterns are usage errors (exit 2) naming the grammar; an unknown rule is exit 1', async () => {
    const bad = await berth('immutable', 'add', 'Library/*', 'v*');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/"Library\/\*" is not a repository pattern/);
    const badTag = await berth('immutable', 'add', 'library/*', 'v/1');
    expect(badTag.code).toBe(2);
    expect(badTag.err).toMatch(/"v\/1" is not a tag pattern/);
    const unknown = await berth('immutable', 'remove', 'library/*', 'x*');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no immutability rule for repositories library\/\* and tags x\*/);
  });
});
