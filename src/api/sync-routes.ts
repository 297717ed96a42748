// The sync rows of the /api/v1 route table: start a sync, its schedule, the runs.
import type { Berth } from '../app.js';
import { route, type Route } from '../http/router.js';
import {
  listRuns,
  removeSchedule,
  ScheduleBody,
  setSchedule,
  showRun,
  showSchedule,
  startSync,
  SyncBody,
} from './syncs.js';
import * as SS from './sync-schemas.js';

/** The sync routes: start a sync (push on the repository), its schedule (admin), the runs (pull). */
export function syncRoutes(berth: Berth): Route[] {
  return [
    route({
      name: 'sync.start',
      methods: ['POST'],
      path: '/api/v1/repositories/{name}/-/sync',
      access: 'push',
      audit: 'sync.start',
      body: SyncBody,
      response: SS.SyncAnswer,
      handler: (c) => startSync(berth, c),
    }),
    route({
      name: 'schedule.set',
      methods: ['PUT'],
      path: '/api/v1/repositories/{name}/-/sync-schedule',
      access: 'admin',
      audit: 'sync.schedule.set',
      body: ScheduleBody,
      response: SS.SyncAnswer,
      handler: (c) => setSchedule(berth, c),
    }),
    route({
      name: 'schedule.show',
      methods: ['GET'],
      path: '/api/v1/repositories/{name}/-/sync-schedule',
      access: 'pull',
      response: SS.SyncAnswer,
      handler: (c) => showSchedule(berth, c),
    }),
    route({
      name: 'schedule.remove',
      methods: ['DELETE'],
      path: '/api/v1/repositories/{name}/-/sync-schedule',
      access: 'admin',
      audit: 'sync.schedule.remove',
      handler: (c) => removeSchedule(berth, c),
    }),
    route({
      name: 'syncruns.list',
      methods: ['GET'],
      path: '/api/v1/sync-runs/?',
      access: 'signed-in',
      response: SS.SyncRunList,
      handler: (c) => listRuns(berth, c),
    }),
    route({
      name: 'syncruns.show',
      methods: ['GET'],
      path: '/api/v1/sync-runs/{id}',
      access: 'signed-in',
      response: SS.SyncRun,
      handler: (c) => showRun(berth, c),
    }),
  ];
}
