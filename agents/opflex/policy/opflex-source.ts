/**
 * The OpFlex client as the agent's policy source: its store is the
 * resolved policy, its `changed` event the signal, and the node's endpoint
 * files become its declarations (it resolves their EPGs from them).
 */
import type { OpflexClient } from '../opflex/client.ts';
import { declarationOf } from '../opflex/endpoints.ts';
import type { PolicySource } from './source.ts';

export function opflexPolicySource(client: OpflexClient): PolicySource {
  return {
    objects: () => client.store.values(),
    onChange: (listener) => {
      const onChanged = (): void => listener();
      client.store.on('changed', onChanged);
      return () => client.store.off('changed', onChanged);
    },
    localEndpoints: (endpoints) => client.setEndpoints(endpoints.map(declarationOf)),
  };
}
