// The Link header of paginated lists (RFC 5988): the registry's tags and catalog, the API's repositories.

export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
