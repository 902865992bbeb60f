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
  /** First retry delay in ms (default 1000); doubles per attempt, with jitter. */
  retryBase?: number;
  /** Longest retry delay in ms (default 60000). */
  retryMax?: number;
  /** Gzip bodies with CompressionStream where available (default true). */
  compress?: boolean;
  /** Autocapture switches; `false` turns all off (default: all on). */
  autocapture?: boolean | { pageViews?: boolean; clicks?: boolean; scroll?: boolean };
  /** Send nothing when the browser says Do Not Track / Global Privacy Control (default false). */
  respectDnt?: boolean;
  /** Remove the query string from page url and referrer (`true`), or only the listed parameters. */
  stripQuery?: boolean | string[];
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
  reset(): void;
  flush(): Promise<void>;
  optOut(): void;
  optIn(): void;
  debug(on?: boolean): void;
  stats(): Stats;
}
