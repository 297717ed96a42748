// The Upstream client's wire, unit: Docker Hub names and host, Link pages, manifest media types.
import { describe, expect, it } from 'vitest';
import { manifestMediaType, nextLink, registryBase, upstreamName } from './upstream-wire.js';

describe('upstreamName', () => {
  it("puts Docker Hub's official images under library/", () => {
    expect(upstreamName('https://registry-1.docker.io', 'alpine')).toBe('library/alpine');
    expect(upstreamName('https://docker.io', 'alpine')).toBe('library/alpine');
    expect(upstreamName('https://registry-1.docker.io', 'grafana/grafana')).toBe('grafana/grafana');
    expect(upstreamName('http://127.0.0.1:5001', 'alpine')).toBe('alpine');
  });
});

describe('registryBase', () => {
  it("goes to Docker Hub's API host for docker.io, keeping a path prefix", () => {
    expect(registryBase('https://docker.io').href).toBe('https://registry-1.docker.io/');
    expect(registryBase('https://r.example/mirror/?x=1').href).toBe('https://r.example/mirror/');
  });
});

describe('nextLink', () => {
  it('resolves the next page against the current one', () => {
    const current = new URL('http://r.example/v2/a/tags/list?n=2');
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', current)?.href).toBe(
      'http://r.example/v2/a/tags/list?n=2&last=b',
    );
    expect(nextLink('<http://other/x>; rel=next', current)?.href).toBe('http://other/x');
    expect(nextLink('</x>; rel="prev"', current)).toBeUndefined();
    expect(nextLink(undefined, current)).toBeUndefined();
  });
});

describe('manifestMediaType', () => {
  it("takes Content-Type when it names a manifest type, else the manifest's own", () => {
    const oci = 'application/vnd.oci.image.manifest.v1+json';
    expect(manifestMediaType(`${oci}; charset=utf-8`, Buffer.from('{}'))).toBe(oci);
    expect(manifestMediaType('application/json', Buffer.from(JSON.stringify({ mediaType: oci })))).toBe(oci);
    expect(manifestMediaType('application/json', Buffer.from('not json'))).toBe('application/json');
  });
});
