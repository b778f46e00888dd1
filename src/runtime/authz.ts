// Who may read /metrics: the caller's bearer token is checked with a
// TokenReview and the user it belongs to with a SubjectAccessReview for the
// non-resource URL — the authentication and authorisation filter that
// kubebuilder scaffolds for secure metrics. Answers are cached briefly so a
// scrape every few seconds does not cost the API server two requests each.
import { createHash } from 'node:crypto';
import { HttpMethod, type KubeClient } from './kube.ts';

export interface AccessDecision {
  /** 200 allowed, 401 not authenticated, 403 authenticated but not allowed. */
  readonly status: 200 | 401 | 403;
  readonly reason: string;
  readonly user?: string;
}

interface TokenReview {
  status?: { authenticated?: boolean; error?: string; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export class RequestAuthorizer {
  readonly #client: KubeClient;
  readonly #allowedTtlMs: number;
  readonly #deniedTtlMs: number;
  readonly #cache = new Map<string, { decision: AccessDecision; expires: number }>();

  constructor(client: KubeClient, options: { allowedTtlMs?: number; deniedTtlMs?: number } = {}) {
    this.#client = client;
    this.#allowedTtlMs = options.allowedTtlMs ?? 60_000;
    this.#deniedTtlMs = options.deniedTtlMs ?? 10_000;
  }

  async authorize(authorization: string | undefined, path: string, verb = 'get'): Promise<AccessDecision> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return { status: 401, reason: 'no bearer token' };
    const key = `${createHash('sha256').update(token).digest('hex')} ${verb} ${path}`;
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.expires > now) return cached.decision;

    const decision = await this.#review(token, path, verb);
    this.#cache.set(key, { decision, expires: now + (decision.status === 200 ? this.#allowedTtlMs : this.#deniedTtlMs) });
    if (this.#cache.size > 1_000) {
      for (const [k, entry] of this.#cache) if (entry.expires <= now) this.#cache.delete(k);
    }
    return decision;
  }

  async #review(token: string, path: string, verb: string): Promise<AccessDecision> {
    const review = await this.#client.request<TokenReview>('create', HttpMethod.POST, '/apis/authentication.k8s.io/v1/tokenreviews', {
      resource: 'tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) {
      return { status: 401, reason: review.status?.error ?? 'token not authenticated' };
    }
    const access = await this.#client.request<SubjectAccessReview>('create', HttpMethod.POST, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      resource: 'subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, nonResourceAttributes: { path, verb } },
      },
    });
    if (!access.status?.allowed) {
      return { status: 403, reason: `${user.username} may not ${verb} ${path}${access.status?.reason ? `: ${access.status.reason}` : ''}`, user: user.username };
    }
    return { status: 200, reason: 'allowed', user: user.username };
  }
}
