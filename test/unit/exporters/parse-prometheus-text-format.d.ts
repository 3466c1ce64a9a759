// Types for the test-only Prometheus text parser (the package ships none).
declare module 'parse-prometheus-text-format' {
  interface ParsedMetric {
    value: string;
    labels?: Record<string, string>;
  }
  interface ParsedFamily {
    name: string;
    help: string;
    type: string;
    metrics: ParsedMetric[];
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
