import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ModelCard } from '../../lib/card/card-shape';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { SqliteRegistry } from '../../lib/registry/sqlite';
import { freePort } from '../../tools/devserver';
import {
  repoRoot,
  temporalAddress,
  tempHome,
  testClient,
  uniqueQueues,
  vegaPath,
  withWorkers,
  eventually,
  type TestHome,
} from '../support/env';
import { cliEnv, exited, lumen, startUntil } from '../support/cli';

/**
 * The `lumen` command as people run it: the compiled bin (what set-up builds), in its own process, with its exit
 * code, its output and its errors. Each case here is a defect found by using it.
 */

describe('the lumen command line', () => {
  let t: TestHome;
  let env: NodeJS.ProcessEnv;
  const queues = uniqueQueues();
  const weather = path.join(repoRoot, 'examples', 'models', 'seattle-weather.json');

  before(() => {
    t = tempHome('lumen-cli-');
    env = cliEnv(t.home, queues);
  });
  after(() => t.cleanup());

  it('says what is wrong with its input, in one line, with exit code 4', async () => {
    const version = await lumen(['--version'], env);
    assert.equal(version.code, 0);
    assert.equal(
      version.stdout.trim(),
      (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version,
    );

    // used to print "approved … vNaN"
    const abc = await lumen(['approve', 'seattle-weather', '--version', 'abc', '--comment', 'ok'], env);
    assert.equal(abc.code, 4);
    assert.equal(abc.stderr.trim(), 'lumen: --version must be a version number (1, 2, … or v3), got "abc"');

    // used to fail with a bare EISDIR
    const folder = fs.realpathSync(t.home);
    const dir = await lumen(['start', weather, '--source', folder], env);
    assert.equal(dir.code, 4);
    assert.equal(
      dir.stderr.trim(),
      `lumen: source ${folder} is a directory; give one file (Parquet, CSV, JSON or Arrow)`,
    );

    // a file outside the allowed roots (the working folder and LUMEN_HOME by default) is refused before it is read
    const outside = await lumen(['start', weather, '--source', '/etc/hostname', '--format', 'csv'], env);
    assert.equal(outside.code, 4);
    assert.match(
      outside.stderr.trim(),
      /^lumen: source \/etc\/hostname is refused: \/etc\/hostname is outside the allowed source roots \(.*; LUMEN_SOURCE_ROOTS\)$/,
    );
    const url = await lumen(['start', weather, '--source', 'https://example.com/weather.csv'], env);
    assert.equal(url.code, 4);
    assert.match(url.stderr, /Lumen cannot read "https" sources: it reads files/);

    // used not to name the address it tried
    const unreachable = await lumen(['status', 'train:x:y'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(unreachable.code, 4);
    assert.match(
      unreachable.stderr,
      /^lumen: cannot reach the Temporal server at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS; plain\)/,
    );
    for (const ran of [abc, dir, unreachable]) assert.doesNotMatch(ran.stderr, /\n\s+at /, 'no stack trace');

    const unknown = await lumen(['bogus'], env);
    assert.equal(unknown.code, 4);
    // with --help, an unknown command once printed the general help and exited 0, as if it were fine
    for (const args of [
      ['bogus', '--help'],
      ['monitor', 'bogus', '--help'],
    ]) {
      const helped = await lumen(args, env);
      assert.equal(helped.code, 4, args.join(' '));
      assert.match(helped.stderr, /^lumen: unknown command '(monitor )?bogus' \(lumen --help lists the commands\)/);
    }
    const known = await lumen(['monitor', 'status', '--help'], env);
    assert.equal(known.code, 0);
  });

  it('a worker: one line for an unreachable server; the prebuilt workflow bundle and one line per event otherwise', async () => {
    const worker = (address: string) =>
      spawn(process.execPath, [path.join(repoRoot, 'dist', 'worker', 'main.js')], {
        cwd: repoRoot,
        env: { ...env, TEMPORAL_ADDRESS: address },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const unreachable = worker('127.0.0.1:1');
    let said = '';
    unreachable.stdout.on('data', (d: Buffer) => (said += d.toString()));
    unreachable.stderr.on('data', (d: Buffer) => (said += d.toString()));
    const code = await new Promise<number | null>((resolve) => unreachable.once('exit', resolve));
    assert.equal(code, 4, said);
    assert.match(
      said,
      /lumen worker: cannot reach the Temporal server at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\): Connection refused\./,
    );
    assert.doesNotMatch(said, /tonic::|TransportError|\n\s+at /, 'no transport internals, no stack');

    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'workflow-bundle.js')), 'set-up bundles the workflows once');
    const running = worker(temporalAddress());
    let output = '';
    running.stdout.on('data', (d: Buffer) => (output += d.toString()));
    running.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await eventually(
        'the worker to poll',
        async () => (/polling pipeline, training/.test(output) && /state=RUNNING/.test(output) ? true : undefined),
        60_000,
      );
      // webpack's listing and the SDK's notices about what this worker does not run are not a person's concern
      assert.doesNotMatch(
        output,
        /modules by path|asset workflow-bundle|webpack|No workflows registered|No Nexus/,
        output,
      );
      for (const line of output.trim().split('\n')) assert.ok(line.length < 200, `one short line per event: ${line}`);
    } finally {
      running.kill('SIGINT');
      await new Promise((resolve) => running.once('exit', resolve));
    }
  });

  it("check: the pipeline's validation with no server, exit 0 pass, 1 warn, 2 fail", async () => {
    const pass = await lumen(['check', weather, '--source', 'vega-datasets:seattle-weather.csv'], env);
    assert.equal(pass.code, 0, pass.stdout + pass.stderr);
    assert.match(pass.stdout, /^PASS /m);
    assert.match(pass.stdout, /reference none: no drift measured/);
    const forced = await lumen(['check', weather, '--source', 'vega-datasets:seattle-weather.csv'], {
      ...env,
      FORCE_COLOR: '1',
    });
    const esc = String.fromCharCode(27);
    assert.ok(forced.stdout.startsWith(`${esc}[32mPASS${esc}[39m `), 'FORCE_COLOR asks for colour even through a pipe');
    assert.ok(!pass.stdout.includes(esc), 'no colour codes through a pipe');

    const penguins = path.join(repoRoot, 'examples', 'models', 'penguins-species.json');
    const warn = await lumen(['check', penguins, '--source', 'vega-datasets:penguins.json', '--json'], env);
    assert.equal(warn.code, 1, warn.stderr);
    const report = JSON.parse(warn.stdout) as { outcome: string; rows: { badRows: number }; files: { html: string } };
    assert.deepEqual([report.outcome, report.rows.badRows], ['warn', 1]);
    assert.ok(fs.existsSync(new URL(report.files.html)), 'the report page exists');

    const shifted = path.join(t.home, 'weather-1983.csv');
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (date - INTERVAL 30 YEAR AS date) FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) WHERE date >= '2013-01-01' AND date < '2014-01-01')
           TO ${sqlString(shifted)} (FORMAT csv, HEADER)`,
      ),
    );
    const fail = await lumen(
      [
        'check',
        weather,
        '--source',
        shifted,
        '--reference',
        'vega-datasets:seattle-weather.csv',
        '--reference-month',
        '2012-06',
      ],
      env,
    );
    assert.equal(fail.code, 2, fail.stdout + fail.stderr);
    assert.match(
      fail.stdout,
      /FAIL .*column "date": the batch's median time lies 10\d\d\d days outside the reference's time range/,
    );

    // one source policy for every command: a file outside the allowed roots is refused by check and schema infer
    // as start and predict refuse it (check once read anything under the temporary folder it worked in)
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-outside-'));
    try {
      const elsewhere = path.join(outside, 'weather.csv');
      fs.copyFileSync(vegaPath('seattle-weather.csv'), elsewhere);
      for (const args of [
        ['check', weather, '--source', elsewhere],
        ['check', weather, '--source', 'vega-datasets:seattle-weather.csv', '--reference', elsewhere],
        ['schema', 'infer', elsewhere],
        ['start', weather, '--source', elsewhere],
      ]) {
        const refused = await lumen(args, env);
        assert.equal(refused.code, 4, `${args.join(' ')}: ${refused.stdout}${refused.stderr}`);
        assert.match(refused.stderr, /is outside the allowed source roots .*LUMEN_SOURCE_ROOTS/, args.join(' '));
      }
      const https = await lumen(['check', weather, '--source', 'https://example.com/weather.csv'], env);
      assert.equal(https.code, 4);
      assert.match(https.stderr, /Lumen cannot read "https" sources: it reads files/);
      assert.doesNotMatch(https.stderr, /LUMEN_SOURCE_SCHEMES/, 'no setting can make it work, so none is suggested');
      // a wrong format is said before a run starts (it once failed in the middle of one, with DuckDB's own words)
      const forced = await lumen(
        ['start', weather, '--source', 'vega-datasets:flights-200k.arrow', '--format', 'parquet'],
        env,
      );
      assert.equal(forced.code, 4, forced.stdout + forced.stderr);
      assert.match(forced.stderr, /is an Arrow IPC file, not parquet \(--format parquet\): give --format arrow/);
      assert.doesNotMatch(forced.stdout, /started/);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('start follows the run, says when it waits for a person and what to type, and exits 3; decisions go through', async () => {
    const bad = path.join(t.home, 'weather-2012-gusty.csv');
    // a third of the days lose their wind reading: too many bad rows, but the rest could train
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (CASE WHEN day(date) % 3 = 0 THEN 'NaN'::DOUBLE ELSE wind END AS wind) FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) WHERE year(date) = 2012)
           TO ${sqlString(bad)} (FORMAT csv, HEADER)`,
      ),
    );
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      const started = await lumen(['start', weather, '--source', bad], env);
      assert.equal(started.code, 3, started.stdout + started.stderr);
      const id = /^started (train:seattle-weather:[0-9a-f]{16}:[0-9a-f]{12})$/m.exec(started.stdout)?.[1];
      assert.ok(id, started.stdout);
      assert.match(started.stdout, /⏸ the batch is in quarantine until .*: a person decides/);
      assert.ok(started.stdout.includes(`lumen quarantine release ${id} --reason "…"`), started.stdout);
      assert.match(
        started.stdout,
        /web ui +http:\/\/localhost:8233\/namespaces\/default\/workflows\/train%3Aseattle-weather%3A[0-9a-f]{16}%3A[0-9a-f]{12}\/[\w-]+\/user-metadata/,
      );

      // a second start of the same batch joins the run and says so
      const again = await lumen(['start', weather, '--source', bad, '--detach'], env);
      assert.equal(again.code, 0);
      assert.match(again.stdout, new RegExp(`^already running \\(joined, not started twice\\): ${id}$`, 'm'));

      // the workflow's validator refuses an empty reason, and the CLI says why (it used to print only
      // "Workflow Update failed")
      const blank = await lumen(['quarantine', 'release', id, '--reason', ' '], env);
      assert.equal(blank.code, 2);
      assert.equal(blank.stderr.trim(), 'lumen: refused: a decision needs a reason');

      const { USER: _user, ...noUser } = env;
      const released = await lumen(
        ['quarantine', 'release', id, '--reason', 'wind sensor fixed; gaps imputed'],
        noUser,
      );
      assert.equal(released.code, 0, released.stderr);
      assert.match(released.stdout, new RegExp(`released batch \\w+ of seattle-weather by ${os.userInfo().username}`));

      const client = await testClient();
      try {
        const result = await client.workflow.getHandle(id).result();
        assert.equal((result as { outcome: string }).outcome, 'promoted');
      } finally {
        await client.connection.close();
      }
      const status = JSON.parse((await lumen(['status', id, '--json'], env)).stdout) as { status: string };
      assert.equal(status.status, 'COMPLETED');
    });
  });

  it('keys and signed decisions: an admin bootstraps, signs others in and revokes; the CLI signs; audit and lineage show who', async () => {
    const home = tempHome('lumen-cli-access-');
    const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-cli-keys-'));
    try {
      fs.writeFileSync(
        path.join(home.home, 'access.json'),
        JSON.stringify({ roles: { ana: { '*': 'admin' }, bo: { 'weather-signed': 'approver' } } }),
      );
      const base = { ...env, LUMEN_HOME: home.home, XDG_CONFIG_HOME: keysDir };
      const as = (person: string) => ({ ...base, LUMEN_KEY_FILE: path.join(keysDir, `${person}.json`) });
      for (const person of ['ana', 'bo', 'cy']) {
        const made = await lumen(['keys', 'generate', person], as(person));
        assert.equal(made.code, 0, made.stderr);
        assert.match(made.stdout, new RegExp(`lumen keys add ${person} .*${person}\\.pub\\.pem`));
        assert.equal(fs.statSync(path.join(keysDir, `${person}.json`)).mode & 0o777, 0o600);
      }
      const pub = (person: string) => path.join(keysDir, `${person}.pub.pem`);
      const first = await lumen(['keys', 'add', 'bo', pub('bo'), '--reason', 'first'], base);
      assert.equal(first.code, 2);
      assert.match(first.stderr, /the first one must belong to an admin .*bo is not one/);
      assert.equal((await lumen(['keys', 'add', 'ana', pub('ana'), '--reason', 'first admin'], base)).code, 0);
      const unsigned = await lumen(['keys', 'add', 'bo', pub('bo'), '--reason', 'joins'], base);
      assert.match(unsigned.stderr, /keys-add refused: access control is on .* needs a signed decision/);
      for (const person of ['bo', 'cy']) {
        const added = await lumen(['keys', 'add', person, pub(person), '--reason', 'joins'], as('ana'));
        assert.equal(added.code, 0, added.stderr);
      }
      const cyKey = JSON.parse(fs.readFileSync(path.join(keysDir, 'cy.json'), 'utf8')) as { keyId: string };
      const revoked = await lumen(['keys', 'revoke', cyKey.keyId, '--reason', 'left'], as('ana'));
      assert.equal(revoked.code, 0, revoked.stderr);
      const listed = await lumen(['keys', 'list'], base);
      assert.match(listed.stdout, /ana +\*: admin/);
      assert.match(listed.stdout, /bo +weather-signed: approver .* active/);
      assert.match(listed.stdout, /cy +– .* revoked \d{4}-\d\d-\d\d: left/);

      const spec = path.join(home.home, 'weather-signed.json');
      const parsed = JSON.parse(fs.readFileSync(weather, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(
        spec,
        JSON.stringify({
          ...parsed,
          name: 'weather-signed',
          gate: { approval: { required: 'always', timeout: '10m' } },
        }),
      );
      const signedQueues = uniqueQueues();
      const q = { LUMEN_PIPELINE_QUEUE: signedQueues.pipeline, LUMEN_TRAINING_QUEUE: signedQueues.training };
      await withWorkers(home.deps, signedQueues, ['pipeline', 'training'], async () => {
        const source = ['--source', 'vega-datasets:seattle-weather.csv'];
        const refusedStart = await lumen(['start', spec, ...source], { ...base, ...q });
        assert.equal(refusedStart.code, 2, refusedStart.stdout + refusedStart.stderr);
        assert.match(refusedStart.stdout + refusedStart.stderr, /start refused: access control is on/);
        const started = await lumen(['start', spec, ...source], { ...as('ana'), ...q });
        assert.equal(started.code, 3, started.stdout + started.stderr);
        const byCy = await lumen(['approve', 'weather-signed', '--version', '1', '--comment', 'ok'], {
          ...as('cy'),
          ...q,
        });
        assert.equal(byCy.code, 2);
        assert.match(byCy.stderr, /^lumen: approve refused: key \w+ of cy was revoked at .* by ana$/m);
        const byBo = await lumen(['approve', 'weather-signed', '--version', '1', '--comment', 'ok'], {
          ...as('bo'),
          ...q,
        });
        assert.equal(byBo.code, 0, byBo.stderr);
        assert.match(byBo.stdout, /^approved weather-signed v1 by bo /);
        await eventually('the promotion', async () =>
          (await home.deps.registry.alias('weather-signed', 'champion')) === 1 ? true : undefined,
        );
      });
      const audit = await lumen(['audit', 'weather-signed', '--since', '1h'], base);
      assert.equal(audit.code, 0, audit.stderr);
      assert.match(
        audit.stdout,
        /start +workflowId train:weather-signed:[0-9a-f]{16}:\S* +ana +signed \w{8} +accepted/,
      );
      assert.match(audit.stdout, /approve +version 1, .* +cy +signed \w{8} +refused +key \w+ of cy was revoked/);
      assert.match(audit.stdout, /approve +version 1, .* +bo +signed \w{8} +accepted +ok/);
      assert.match(audit.stdout, /key-revoked .* cy .* left/);
      const lineage = await lumen(['lineage', 'weather-signed@1'], base);
      assert.match(lineage.stdout, /decision .* approve by bo \(signed, key \w{8}…\): accepted — ok/);
      assert.match(lineage.stdout, /policy +v1 \(sha256 [0-9a-f]{12}…; lumen policy show weather-signed --history\)/);
      const wrongSince = await lumen(['audit', 'weather-signed', '--since', 'yesterday'], base);
      assert.equal(wrongSince.code, 4);
      assert.match(wrongSince.stderr, /--since must be a time \(ISO 8601\) or a span like 24h or 7d; got "yesterday"/);
    } finally {
      home.cleanup();
      fs.rmSync(keysDir, { recursive: true, force: true });
    }
  });

  it('an attacker at the CLI: unsigned schedule, watch and policy changes refused and audited; secrets are not sources; forged names', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-cli-attacker-'));
    try {
      fs.writeFileSync(path.join(home, 'access.json'), JSON.stringify({ roles: { ana: { '*': 'admin' } } }));
      fs.mkdirSync(path.join(home, 'serve'));
      const token = 'c2VjcmV0LWFkbWluLXRva2VuLWZvci10aGUtdGVzdA';
      fs.writeFileSync(path.join(home, 'serve', 'admin.token'), `${token}\n`, { mode: 0o600 });
      fs.mkdirSync(path.join(home, 'inbox'));
      const base = { ...env, LUMEN_HOME: home, XDG_CONFIG_HOME: path.join(home, 'no-keys') };
      const nobody = ['--actor', 'nobody'];
      const schedule = await lumen(
        [
          'schedule',
          'create',
          'seattle-weather',
          '--every',
          '1 day',
          '--spec',
          weather,
          '--source',
          'vega-datasets:seattle-weather.csv',
          '--paused',
          ...nobody,
        ],
        base,
      );
      assert.equal(schedule.code, 2, schedule.stdout + schedule.stderr);
      assert.match(schedule.stderr, /^lumen: schedule refused: access control is on .* needs a signed decision/m);
      const watch = await lumen(
        ['inbox', 'watch', 'seattle-weather', '--dir', path.join(home, 'inbox'), '--spec', weather, ...nobody],
        base,
      );
      assert.equal(watch.code, 2, watch.stdout + watch.stderr);
      assert.match(watch.stderr, /inbox refused: access control is on/);
      const policy = await lumen(
        ['policy', 'set', 'seattle-weather', '--from', weather, '--reason', 'mine', ...nobody],
        base,
      );
      assert.equal(policy.code, 2, policy.stdout + policy.stderr);
      assert.match(policy.stderr, /model-policy refused: access control is on/);

      // the admin token read as a batch: refused before a byte is read, and never quoted
      const leak = await lumen(
        ['start', weather, '--source', path.join(home, 'serve', 'admin.token'), '--format', 'csv'],
        base,
      );
      assert.equal(leak.code, 4, leak.stdout + leak.stderr);
      assert.match(leak.stderr, /holds Lumen's secrets .* never read as a source/);
      assert.ok(!(leak.stdout + leak.stderr).includes(token));

      // a name that would forge a row: refused where it enters; one already on record is printed escaped, as a claim
      const forgedName = 'nobody\n2026-12-06 10:00:00  approve  version 1  ana  signed  accepted';
      const forged = await lumen(
        ['policy', 'set', 'seattle-weather', '--from', weather, '--reason', 'x', '--actor', forgedName],
        base,
      );
      assert.equal(forged.code, 4);
      assert.match(
        forged.stderr,
        /--actor "nobody\\n2026.*": a name must be printable: character \\u000a at position 7/,
      );
      const registry = new SqliteRegistry(path.join(home, 'registry.sqlite'));
      await registry.recordAudit({
        model: 'seattle-weather',
        action: 'start',
        subject: { workflowId: 'train:seattle-weather:x' },
        identity: forgedName,
        proof: 'claimed',
        keyId: null,
        outcome: 'refused',
        detail: 'recorded by an older Lumen',
        workflowId: null,
      });
      registry.close();
      const audit = await lumen(['audit', 'seattle-weather'], base);
      assert.equal(audit.code, 0, audit.stderr);
      const lines = audit.stdout.trim().split('\n');
      assert.equal(lines.filter((l) => /\baccepted\b/.test(l) && !/\\u000a/.test(l)).length, 0, audit.stdout);
      assert.match(
        audit.stdout,
        /"nobody\\u000a2026-12-06 10:00:00 {2}approve {2}version 1 {2}ana {2}signed {2}accepted" \(claimed\)/,
      );
      for (const refused of ['schedule', 'inbox', 'model-policy']) {
        assert.match(audit.stdout, new RegExp(`${refused} .*"nobody" \\(claimed\\) +claimed +refused`), refused);
      }
      // what the CLI wrote is its owner's alone (umask 077)
      assert.equal(fs.statSync(path.join(home, 'registry.sqlite')).mode & 0o077, 0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('read commands: tables with headers, --json, and the OS user when $USER is unset', async () => {
    // the batch released in the test above trained v1
    const models = await lumen(['models'], env);
    assert.equal(models.code, 0);
    assert.match(models.stdout.split('\n')[0], /^model +versions +champion$/);
    assert.match(models.stdout, /^seattle-weather +1 +v1$/m);
    const versions = await lumen(['models', 'seattle-weather'], env);
    assert.match(
      versions.stdout.split('\n')[0],
      /^version +registered +aliases +metrics +gate +load check +data +backend$/,
    );
    const json = JSON.parse((await lumen(['models', 'seattle-weather', '--json'], env)).stdout) as {
      aliases: Record<string, number>;
    };
    assert.equal(json.aliases.champion, 1);

    const { USER: _user, ...noUser } = env;
    const alias = await lumen(['alias', 'seattle-weather', 'staging', '1', '--reason', 'for the load test'], noUser);
    assert.equal(alias.code, 0, alias.stderr);
    const history = JSON.parse((await lumen(['history', 'seattle-weather', '--json'], env)).stdout) as {
      alias: string;
      actor: string;
    }[];
    assert.equal(history.find((e) => e.alias === 'staging')?.actor, os.userInfo().username, 'never "unknown"');
    const explicit = await lumen(
      ['alias', 'seattle-weather', 'staging', 'none', '--reason', 'done', '--actor', 'ana'],
      env,
    );
    assert.equal(explicit.code, 0);
    assert.match((await lumen(['history', 'seattle-weather'], env)).stdout, /staging +v1 +removed +ana +done/);
    assert.equal((await lumen(['alias', 'seattle-weather', 'champion', '1', '--reason', 'x'], env)).code, 4);

    // importance measured at evaluation is part of the version's lineage
    const lineage = await lumen(['lineage', 'seattle-weather@1'], env);
    assert.match(
      lineage.stdout,
      /importance +macroF1 lost when a feature is shuffled, 5 repeats on \d+ holdout rows\n/,
    );
    assert.match(lineage.stdout, / 1 precipitation +\d\.\d{4} \[/);

    // the model card: HTML and JSON written side by side; JSON alone with --json
    const cards = path.join(t.home, 'cards');
    fs.mkdirSync(cards);
    const card = await lumen(['card', 'seattle-weather@1', '--out', cards], env);
    assert.equal(card.code, 0, card.stderr);
    assert.match(card.stdout, /^seattle-weather v1 \(champion\): /);
    assert.match(card.stdout, /uses +not declared: the spec has no card section/);
    assert.match(card.stdout, /approvals +not required/);
    const html = fs.readFileSync(path.join(cards, 'seattle-weather-v1.card.html'), 'utf8');
    assert.match(
      html,
      /<h1>Model card: seattle-weather <span class="muted">v1<\/span> <span class="ok">champion<\/span><\/h1>/,
    );
    assert.match(html, /id="undeclared"/);
    const written = JSON.parse(fs.readFileSync(path.join(cards, 'seattle-weather-v1.card.json'), 'utf8')) as ModelCard;
    const printed = JSON.parse((await lumen(['card', 'seattle-weather@1', '--json'], env)).stdout) as ModelCard;
    assert.deepEqual(printed, written);
    assert.equal(written.format, 'lumen-model-card/1');
    assert.equal(written.model_details.version.name, 'v1');
    assert.equal(written.considerations.declared, false);
    assert.equal(written.quantitative_analysis.importance?.features.length, 5);
    assert.ok(written.model_parameters.data.train.period, 'the batch has a time column: its period is said');
    assert.ok(
      written.considerations.limitations.some(
        (l) => l.source === 'training' && /behaviour outside that period/.test(l.description),
      ),
    );
    // wrong input: one line each, nothing written
    const missing = await lumen(['card', 'seattle-weather@9'], env);
    assert.equal(missing.code, 4);
    assert.equal(missing.stderr.trim(), 'lumen: seattle-weather v9 is not registered');
    const nowhere = await lumen(['card', 'seattle-weather@1', '--out', path.join(t.home, 'no-such-dir')], env);
    assert.equal(nowhere.code, 4);
    assert.match(nowhere.stderr, /--out .*no-such-dir is not a directory/);
    assert.equal((await lumen(['card', 'seattle-weather'], env)).code, 4);

    for (const command of [['alerts'], ['pending'], ['quarantine', 'list'], ['lineage', 'seattle-weather@1']]) {
      const ran = await lumen([...command, '--json'], env);
      assert.equal(ran.code, 0, `${command.join(' ')}: ${ran.stderr}`);
      JSON.parse(ran.stdout);
    }
  });

  it('serve, predict and serving show, as a person runs them', async () => {
    // seattle-weather v1, trained above, is champion in this LUMEN_HOME
    const port = await freePort();
    const serve = await startUntil(['serve', '--port', String(port)], env, /predictions logged to/, 60_000);
    try {
      assert.match(serve.output(), new RegExp(`serving on http://127\\.0\\.0\\.1:${port}`));
      assert.match(serve.output(), /seattle-weather: v1/);
      assert.match(serve.output(), /admin and feedback token: in .*admin\.token/);
      const res = await fetch(`http://127.0.0.1:${port}/v1/models/seattle-weather/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ date: '2015-06-01', precipitation: 0, temp_max: 25, temp_min: 14, wind: 3 }),
      });
      const body = (await res.json()) as {
        version: number;
        predictions: { class: string; probabilities: Record<string, number> }[];
      };
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.version, 1);
      assert.ok(['drizzle', 'fog', 'rain', 'snow', 'sun'].includes(body.predictions[0].class));
      assert.ok(Math.abs(Object.values(body.predictions[0].probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-5);
      // the defaults cap nothing: 3,000 requests from one address (what every client behind a proxy looks like), 16
      // at a time, are all answered (a default of 1,000 a second per address refused most of them)
      const statuses = new Map<number, number>();
      const perSender = Math.ceil(3000 / 16);
      const send = async (): Promise<void> => {
        for (let i = 0; i < perSender; i++) {
          const r = await fetch(`http://127.0.0.1:${port}/v1/models/seattle-weather/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ date: '2015-06-01', precipitation: 0, temp_max: 25, temp_min: 14, wind: 3 }),
          });
          await r.arrayBuffer();
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 16 }, send));
      assert.deepEqual([...statuses], [[200, 16 * perSender]]);
    } finally {
      serve.child.kill('SIGINT');
      assert.equal(await exited(serve.child), 0, serve.output());
    }
    assert.ok(
      fs.readdirSync(path.join(t.home, 'predictions', 'seattle-weather')).length > 0,
      'the prediction was logged',
    );

    const out = path.join(t.home, 'weather-scored.parquet');
    const scored = await lumen(
      ['predict', 'seattle-weather', '--source', 'vega-datasets:seattle-weather.csv', '--out', out],
      env,
    );
    assert.equal(scored.code, 0, scored.stderr);
    assert.match(scored.stdout, /^seattle-weather v1: 1461 rows predicted, 0 refused/m);
    assert.ok(fs.existsSync(out));
    const missing = await lumen(
      ['predict', 'seattle-weather@7', '--source', 'vega-datasets:seattle-weather.csv', '--out', out],
      env,
    );
    assert.deepEqual(
      [missing.code, missing.stderr.trim()],
      [4, 'lumen: seattle-weather v7 is not registered (see: lumen models seattle-weather)'],
    );

    const shown = JSON.parse((await lumen(['serving', 'show', 'seattle-weather', '--json'], env)).stdout) as {
      champion: number;
      policy: { canary: unknown; shadow: unknown };
    };
    assert.deepEqual([shown.champion, shown.policy.canary, shown.policy.shadow], [1, null, null]);
    const noVersion = await lumen(
      ['serving', 'set', 'seattle-weather', '--canary', '9', '--share', '0.1', '--reason', 'x'],
      env,
    );
    assert.deepEqual(
      [noVersion.code, noVersion.stderr.trim()],
      [4, 'lumen: seattle-weather v9 is not registered (see: lumen models seattle-weather)'],
    );
  });

  it('server: a dev server for Lumen in the foreground, stopped cleanly by Ctrl-C', async () => {
    const port = await freePort();
    const server = await startUntil(
      ['server', '--port', String(port), '--headless'],
      env,
      /Temporal dev server at/,
      60_000,
    );
    assert.match(server.output(), new RegExp(`Temporal dev server at 127\\.0\\.0\\.1:${port}`));
    server.child.kill('SIGINT');
    assert.equal(await exited(server.child), 0, server.output());
    assert.match(server.output(), /stopped/);
  });

  it('demo --keep: Ctrl-C stops workers and exits 0 (it used to exit 1 with "Not running. Current state: DRAINING")', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-demo-'));
    try {
      // the demo joins the test's server (it is healthy at TEMPORAL_ADDRESS) with workers on the default queues
      const demo = await startUntil(['demo', '--keep'], { ...env, LUMEN_HOME: home }, /press Ctrl-C to stop/, 300_000);
      assert.match(demo.output(), /model +flights-delay v1 \(promoted\)/);
      demo.child.kill('SIGINT');
      const code = await exited(demo.child);
      assert.doesNotMatch(demo.output(), /Not running/);
      assert.equal(code, 0, demo.output());
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
