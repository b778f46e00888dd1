// undici's connection pool without the rest of undici. The package root loads
// fetch, WebSocket, EventSource, the HTTP cache and the mock agents: about
// 13 MiB of RSS and 3 MiB of heap the operator, which sends every request
// through one Agent's `request`, never uses (docs/performance.md). These are
// the files the root itself loads for Agent and ProxyAgent, and the one line
// by which it gives every dispatcher its `request` method. kubeconfig.ts hands
// this module to client-node's KubeConfig in place of 'undici'.
import { createRequire } from 'node:module';
import type * as undici from 'undici';

const require = createRequire(import.meta.url);

// As undici's index.js does: Object.assign(Dispatcher.prototype, api).
const dispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
Object.assign(dispatcherClass.prototype, require('undici/lib/api/index.js') as object);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof undici.Agent;
export const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js') as typeof undici.ProxyAgent;
export type { Dispatcher } from 'undici';
