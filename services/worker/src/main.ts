import { runService } from '@imagegen/shared';
import { loadWorkerConfig } from './config';
import { startWorker } from './worker';

runService('imagegen-worker', () => loadWorkerConfig(), startWorker);
