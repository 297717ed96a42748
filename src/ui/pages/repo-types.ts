// The services' answers the repository pages show, named through the Berth object (the UI imports nothing of repo/).
import type { Berth } from '../../app.js';

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

export type TagRow = Answer<Berth['tags']['page']>['rows'][number];
export type ImageSummary = Answer<Berth['images']['summaries']> extends Map<string, infer S> ? S : never;
export type ImageDetails = Answer<Berth['images']['details']>;
export type LayerStep = ImageDetails['steps'][number];
export type ConfigSummary = NonNullable<NonNullable<ImageDetails['config']>['summary']>;
export type VersionInfo = Answer<Berth['history']['versions']>[number];
export type VersionContent = Answer<Berth['history']['diff']>['added'];
export type ImportResult = Answer<Berth['imports']['importArchive']>;
export type RepositoryInfo = Answer<Berth['repositories']['get']>['info'];
