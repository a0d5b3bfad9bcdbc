import { runService } from '@imagegen/shared';
import { loadApiConfig } from './config';
import { startApi } from './server';

runService('imagegen-api', () => loadApiConfig(), startApi);
