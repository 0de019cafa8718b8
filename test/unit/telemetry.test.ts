import assert from 'node:assert/strict';
import { traceLink, tracesProtocol, traceUrlTemplate, tracingWanted } from '../../lib/telemetry';
import { tracedFindings } from '../../cli/monitor-commands';
import type { ReportSummary } from '../../lib/monitor/report';
import { lumen } from '../support/cli';
import { tempHome } from '../support/env';

describe('telemetry settings (OpenTelemetry variables)', () => {
  it('traces only when an OTLP endpoint is set, and never when the SDK or the traces exporter is turned off', () => {
    assert.equal(tracingWanted({}), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), true);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    assert.equal(tracingWanted({ ...on, OTEL_SDK_DISABLED: 'TRUE' }), false);
    assert.equal(tracingWanted({ ...on, OTEL_TRACES_EXPORTER: 'console, none' }), false);
    assert.equal(tracingWanted({ ...on, OTEL_TRACES_EXPORTER: 'otlp' }), true);
  });

  it("sends OTLP's default encoding, protobuf over HTTP, unless JSON is asked for; the traces' own variable first", () => {
    assert.equal(tracesProtocol({}), 'http/protobuf');
    assert.equal(tracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'http/json');
    assert.equal(
      tracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }),
      'http/protobuf',
    );
    assert.throws(
      () => tracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc: Lumen sends OTLP over HTTP only; use http\/protobuf .* port \(4318\)/,
    );
    assert.throws(
      () => tracesProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' }),
      /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http\/xml": expected http\/protobuf or http\/json/,
    );
  });

  it('links a trace to the tracing UI by LUMEN_TRACE_URL, and says what is wrong with a template that cannot link', () => {
    assert.equal(traceUrlTemplate({}), null);
    const jaeger = traceUrlTemplate({ LUMEN_TRACE_URL: 'http://jaeger:16686/trace/{traceId}' });
    assert.equal(traceLink(jaeger, 'ab12'), 'http://jaeger:16686/trace/ab12');
    assert.equal(traceLink(null, 'ab12'), null);
    assert.throws(
      () => traceUrlTemplate({ LUMEN_TRACE_URL: 'http://jaeger:16686/trace/' }),
      /LUMEN_TRACE_URL="http:\/\/jaeger:16686\/trace\/" has no \{traceId\}/,
    );
    assert.throws(
      () => traceUrlTemplate({ LUMEN_TRACE_URL: 'javascript:alert({traceId})' }),
      /is not an http\(s\) link/,
    );
    assert.throws(() => traceUrlTemplate({ LUMEN_TRACE_URL: 'jaeger/{traceId}' }), /is not a URL/);
  });

  it('`lumen monitor report` lists the traces of the newest findings that name some, linked when it can', () => {
    const summary = (id: number, findings: ReportSummary['findings']) => ({ id, findings }) as ReportSummary;
    const traces = [{ trace: 'c'.repeat(32), prediction: '01J0000000000000000000000C' }];
    const reports = [
      summary(1, [{ kind: 'latency', action: 'alert', severity: 'warning', summary: 's', traces }]),
      summary(2, [{ kind: 'input-drift', action: 'alert', severity: 'warning', summary: 's' }]),
    ];
    assert.equal(tracedFindings([reports[1]], null), null, 'nothing to list');
    const text = tracedFindings(reports, 'https://tempo.example/t/{traceId}')!;
    assert.match(
      text,
      /report 1, latency:\n {2}trace https:\/\/tempo\.example\/t\/c{32} {2}\(prediction 01J0+C: lumen explain\)/,
    );
    assert.doesNotMatch(text, /report 2/);
  });

  it('a command whose tracing settings are wrong runs untraced, and says why', async () => {
    const t = tempHome('lumen-telemetry-');
    // the command line in a home of its own, with these settings
    const run = (args: string[], env: NodeJS.ProcessEnv) => lumen(args, { ...process.env, LUMEN_HOME: t.home, ...env });
    try {
      const ran = await run(['models'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      });
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(
        ran.stderr,
        /lumen: tracing is off: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: Lumen sends OTLP over HTTP only/,
      );
      assert.match(ran.stdout, /no models/i);
      // a serving process does not start untraced when tracing was asked for: it would serve for months so
      const serve = await run(['serve', '--port', '0'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml',
      });
      assert.equal(serve.code, 4, serve.stderr);
      assert.match(
        serve.stderr,
        /lumen: cannot start tracing \(OTEL_\* settings\): OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http\/xml": expected/,
      );
      // JSON output names trace ids without links: a wrong link template does not stop it
      const json = await run(['explain', '01J0000000000000000000000A', '--json'], {
        LUMEN_TRACE_URL: 'no-template',
      });
      assert.doesNotMatch(json.stderr, /LUMEN_TRACE_URL/);
      const text = await run(['explain', '01J0000000000000000000000A'], {
        LUMEN_TRACE_URL: 'no-template',
      });
      assert.equal(text.code, 4);
      assert.match(text.stderr, /LUMEN_TRACE_URL="no-template" has no \{traceId\}/);
    } finally {
      t.cleanup();
    }
  });
});
