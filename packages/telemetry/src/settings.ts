/** What the standard OTEL_* variables ask of tracing. */
export interface TracingSettings {
  enabled: boolean;
  serviceName: string;
}

/**
 * Tracing is on only where an OTLP endpoint is set: without one the SDK would send to
 * localhost:4318 whether a collector listens there or not. OTEL_SDK_DISABLED=true and
 * OTEL_TRACES_EXPORTER=none turn it off all the same.
 */
export function tracingSettings(env: NodeJS.ProcessEnv, defaultServiceName: string): TracingSettings {
  const value = (name: string) => env[name]?.trim() || undefined;
  const endpoint = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? value('OTEL_EXPORTER_OTLP_ENDPOINT');
  const disabled =
    value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true' || value('OTEL_TRACES_EXPORTER')?.toLowerCase() === 'none';
  return {
    enabled: endpoint !== undefined && !disabled,
    serviceName: value('OTEL_SERVICE_NAME') ?? defaultServiceName,
  };
}
