// The refusal of writes into repositories that take none (a pull-through cache's), after the route's access check.
import type { RouteTableOptions } from './router.js';

/**
 * Wraps a route table's access check: once a caller is allowed `push` on the repository of the path, `refuse`
 * (e.g. Caches.refusePush) may still refuse it, DENIED naming why. A caller without the right gets the usual
 * answer first, the same whether the repository exists or not.
 */
export function refusingPushes(
  authorize: RouteTableOptions['authorize'],
  refuse: (name: string) => Promise<void>,
): RouteTableOptions['authorize'] {
  return async (ctx, access) => {
    const principal = await authorize(ctx, access);
    const name = ctx.params.name;
    if (access === 'push' && name !== undefined) await refuse(name);
    return principal;
  };
}
