/** Options accepted by `PX.init()`. Only `apiKey` and `projectId` are required. */
export interface Options {
  /** Ingestion key; sent as the `api_key` member of the body, never in the URL. */
  apiKey: string;
  /** Project id; sent as the `project_id` query argument. */
  projectId: string;
  /** Base URL of the PX server (default: the page's origin). `/api/v1/events/batch` is appended. */
  endpoint?: string;
  /** Send when this many events are buffered (default 20). */
  flushAt?: number;
  /** Send buffered events at the latest after this many ms (default 5000). */
  flushInterval?: number;
  /** Send when the buffered events' JSON reaches this many bytes (default 32768). */
  flushBytes?: number;
  /** Most events in one request (default 100). */
  maxBatch?: number;
  /** Most unsent events kept (memory and localStorage); the oldest are dropped and counted (default 1000). */
  maxQueue?: number;
  /** Most bytes of unsent events stored, all tabs of the project together; the oldest are dropped and counted (default 262144). */
  maxBytes?: number;
  /** Unsent events older than this many ms are dropped and counted (default 604800000: 7 days). */
  maxAge?: number;
  /** `'pending'`: events wait in memory, nothing is stored or sent until `optIn()`; `optOut()` drops them. */
  consent?: 'pending' | 'granted';
  /** `'memory'`: no localStorage or cookie at all; a new anonymous id per page load (cookieless). */
  persistence?: 'localStorage' | 'memory';
  /** First retry delay in ms (default 1000); doubles per attempt, with jitter. */
  retryBase?: number;
  /** Longest retry delay in ms (default 300000). */
  retryMax?: number;
  /** Gzip bodies with CompressionStream where available (default true). */
  compress?: boolean;
  /** Autocapture switches; `false` turns all off (default: all on). `hashChanges: false`: a change of the hash alone is no page view. */
  autocapture?: boolean | { pageViews?: boolean; clicks?: boolean; scroll?: boolean; hashChanges?: boolean };
  /** Sees every event before it is queued; return it (changed or not) to keep it, `null` to drop it. */
  beforeSend?: (event: PXEvent) => PXEvent | null;
  /** Send nothing when the browser says Do Not Track / Global Privacy Control (default false). */
  respectDnt?: boolean;
  /** Remove the query string from page url and referrer (`true`), or only the listed parameters. */
  stripQuery?: boolean | string[];
  /**
   * More query / fragment parameter names whose values are secret (case-insensitive), on top of the built-in
   * ones (`token`, `password`, `secret`, `key`, `auth`, `code`, `session`… and any name with such a part,
   * like `access_token`): masked as `name=***` in the query, removed from the fragment.
   */
  maskParams?: string[];
  /** CSS selectors of elements whose text click autocapture leaves out (as does `data-px-no-text` on an element or ancestor). */
  maskText?: string[];
  /** Log what the SDK does to the console (default false). */
  debug?: boolean;
}

export type Properties = Record<string, unknown>;

/** One event as sent in `{"events":[…]}`. */
export interface PXEvent {
  event: string;
  event_id: string;
  anonymous_id: string;
  user_id?: string;
  timestamp: string;
  properties: Properties;
  context: Context;
}

export interface Context {
  page: { url: string; path: string; referrer: string; title: string; hash?: string };
  screen: { width: number; height: number; density: number };
  viewport: { width: number; height: number };
  locale: string;
  timezone: string;
  library: { name: string; version: string };
  campaign?: Record<string, string>;
  click_ids?: Record<string, string>;
}

/** Counters returned by `PX.stats()`. */
export interface Stats {
  queued: number;
  sent: number;
  rejected: number;
  dropped: number;
  retries: number;
}

/** The public API (`window.PX` in the script-tag build, the `PX` export in the ESM build). */
export interface PXApi {
  init(options: Options): void;
  track(event: string, properties?: Properties): void;
  page(properties?: Properties): void;
  identify(userId: string, traits?: Properties): void;
  /** Super properties: merged into the properties of every later event of this page. */
  register(properties: Properties): void;
  reset(): void;
  flush(): Promise<void>;
  optOut(): void;
  optIn(): void;
  debug(on?: boolean): void;
  stats(): Stats;
}
