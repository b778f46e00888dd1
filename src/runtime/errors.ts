// Errors are either retriable (the workqueue backs off and tries again) or
// terminal (retrying cannot help until someone changes the input; the reconcile
// reports them as a condition and an Event instead), as in controller-runtime.
// A failed request is a KubeApiError; isRetriable tells the two apart by its
// status, so no separate terminal error type is needed.

/** A failed API request, with the Status the API server returned. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  /** The API server's own message, without the request line. */
  readonly apiMessage: string;

  constructor(status: number, reason: string, message: string, method: string, path: string) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
    this.apiMessage = message;
  }
}

/** A write attempted by a replica that does not lead. */
export class NotLeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotLeaderError';
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

/** RBAC (or an admission policy) refused the request: 403. */
export function isForbidden(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 403;
}

/**
 * Whether trying again later may succeed: throttling, server errors, conflicts
 * and network failures are; validation errors and missing permissions are not.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof KubeApiError) {
    return error.status === 409 || error.status === 429 || error.status >= 500;
  }
  return true;
}
