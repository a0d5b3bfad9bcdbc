import { Agent, buildConnector } from 'undici';
import { resolveTarget, type TargetPolicy } from '@imagegen/core';

/**
 * An undici agent that connects only to addresses the policy allows. The connector resolves the
 * host itself, checks every answer, and connects to the checked address, so a DNS answer that
 * changes between check and connect (rebinding) cannot move the request into our network; literal
 * IPs, which undici never looks up, are checked the same way.
 */
export function safeAgent(policy: TargetPolicy, connectTimeoutMs: number, connections: number): Agent {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  return new Agent({
    // Per receiver's origin: as many as deliveries run at once, so one receiver of them all (an
    // app's one endpoint) gets them all at once rather than a share of them.
    connections,
    keepAliveTimeout: 10_000,
    // Timeouts are the sender's AbortSignal, which covers connect, headers and body together.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: (options, callback) => {
      resolveTarget(options.hostname, policy).then(
        // undici derives the TLS server name from `host`, which keeps the name, so certificates are
        // still checked against it.
        ({ address }) => connect({ ...options, hostname: address }, callback),
        (err: Error) => callback(err, null),
      );
    },
  });
}
