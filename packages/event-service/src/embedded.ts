import type { EventService } from './api.js';
import type { ServiceConfigInput } from './config-types.js';

export async function startEventService(_config: ServiceConfigInput = {}): Promise<EventService> {
  throw new Error('startEventService: being written');
}
