export { queueTelemetry, startTracing, type Tracing } from './tracing';
