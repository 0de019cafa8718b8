import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { decideCandidateWith, decideQuarantineWith } from '../../client/decisions';
import { explain } from '../../client/errors';
import { renderCardHtml } from '../../lib/card/html';
import type { ModelCard } from '../../lib/card/card-shape';
import { buildModelCard } from '../../lib/card/model-card';
import { esc } from './charts';
import { approvalsPage, decisionForm, done, quarantinePage, refused } from './decision-pages';
import { modelPage, overviewPage } from './model-pages';
import { predictionPage } from './prediction-page';
import { PREDICTION_ID } from '../../lib/serving/ids';
import {
  consoleContext,
  CONSOLE_HEADERS,
  crossSite,
  flashOf,
  layout,
  loopbackHost,
  type ConsoleDeps,
  type ConsoleOptions,
} from './page';

export { CONSOLE_HEADERS, crossSite, loopbackAddress, loopbackHost, type ConsoleOptions } from './page';

/**
 * The web console at /ui, served by `lumen serve`: pages rendered on the server, charts as inline SVG, no script.
 *
 *   /ui                       every model: champion, canary and shadow, the monitor's last verdict
 *   /ui/models/:model         versions, the champion's timeline, monitor charts with their limits, actions, alerts
 *   /ui/models/:model/versions/:v/card   a version's model card (card.json: the same as JSON)
 *   /ui/approvals             candidates waiting for a person, with approve / reject
 *   /ui/quarantine            batches held back by their contract, with their reports, and release / discard
 *   /ui/validations/:id       a validation report page
 *   /ui/predictions/:id       a prediction's decision record: input, output, version and how it was made, label, why
 *
 * A decision needs the admin token, a name and a comment; it is sent to the waiting workflow exactly as
 * `lumen approve` or `lumen quarantine release` sends it. Every run links into the Temporal Web UI.
 */
export function registerConsole(app: FastifyInstance, deps: ConsoleDeps, opts: ConsoleOptions): void {
  const ctx = consoleContext(deps, opts);
  const { registry, store, ui, page } = ctx;
  /** a registered version's card, or why there is none */
  const versionCard = async (model: string, version: string): Promise<ModelCard | string> => {
    const n = /^\d{1,9}$/.test(version) ? Number(version) : NaN;
    if (!Number.isSafeInteger(n)) return `"${version.slice(0, 20)}" is not a version number.`;
    if (!(await registry.getVersion(model, n))) return `${model.slice(0, 80)} v${n} is not registered.`;
    return buildModelCard(registry, store, model, n);
  };

  // browsers ask for it on every page (a validation report's too); there is none, and that is not an error
  app.get('/favicon.ico', async (_req, reply) => reply.status(204).send());
  app.register(
    async (scope) => {
      scope.addHook('onSend', async (_req, reply, payload) => {
        for (const [name, value] of Object.entries(CONSOLE_HEADERS)) reply.header(name, value);
        return payload;
      });
      scope.addHook('onRequest', async (req, reply) => {
        if (opts.loopbackOnly && !loopbackHost(req.headers.host)) {
          return reply
            .status(421)
            .type('text/plain; charset=utf-8')
            .send('this console answers only to a loopback host name (127.0.0.1, localhost, [::1])');
        }
      });
      scope.addHook('preHandler', async (req, reply) => {
        if (req.method !== 'POST') return;
        const why = crossSite(req.headers);
        if (why) {
          const from = req.url.startsWith('/ui/quarantine') ? 'quarantine' : 'approvals';
          return refused(ctx, reply, from, `${why}: nothing was decided`, 403);
        }
      });
      // forms post url-encoded fields; only here — the API keeps taking JSON alone
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });

      scope.get('/', async (req, reply) => {
        return page(reply, 200, layout('Models', await overviewPage(ctx), ui, flashOf(req.query)));
      });

      scope.get('/models/:model', async (req, reply) => {
        const { model } = req.params as { model: string };
        const versions = await registry.listVersions(model);
        if (versions.length === 0) {
          return page(reply, 404, layout('Not found', `<p>No model named "${esc(model)}" is registered.</p>`, ui));
        }
        return page(reply, 200, layout(model, await modelPage(ctx, model, versions), ui, flashOf(req.query)));
      });

      scope.get('/models/:model/versions/:version/card', async (req, reply) => {
        const { model, version } = req.params as { model: string; version: string };
        const card = await versionCard(model, version);
        if (typeof card === 'string') return page(reply, 404, layout('Not found', `<p>${esc(card)}</p>`, ui));
        return page(reply, 200, renderCardHtml(card));
      });
      scope.get('/models/:model/versions/:version/card.json', async (req, reply) => {
        const { model, version } = req.params as { model: string; version: string };
        const card = await versionCard(model, version);
        if (typeof card === 'string') return reply.status(404).send({ error: card });
        return card;
      });

      scope.get('/predictions', async (req, reply) => {
        const asked = (req.query as { id?: unknown }).id;
        const id = typeof asked === 'string' ? asked.trim().toUpperCase() : '';
        return reply.redirect(`/ui/predictions/${encodeURIComponent(id)}`, 303);
      });

      scope.get('/predictions/:id', async (req, reply) => {
        const { id } = req.params as { id: string };
        const notFound = (why: string, status = 404) =>
          page(reply, status, layout('Not found', `<p>${esc(why)}</p>`, ui));
        if (!PREDICTION_ID.test(id)) return notFound(`"${id.slice(0, 80)}" is not a prediction id.`, 400);
        if (!opts.decisionRecord) {
          return notFound(
            'Decision records are shown here only when the console is reached on this machine or through an authenticating proxy (and the instance keeps a prediction log); GET /v1/predictions/<id> with a token gives them anywhere.',
          );
        }
        const record = await opts.decisionRecord(id);
        if (!record) return notFound(`No prediction ${id} in this instance's log.`);
        return page(reply, 200, layout(`Prediction ${id}`, predictionPage(ctx, record), ui));
      });

      scope.get('/approvals', async (req, reply) =>
        page(reply, 200, layout('Approvals', await approvalsPage(ctx), ui, flashOf(req.query))),
      );
      scope.get('/quarantine', async (req, reply) =>
        page(reply, 200, layout('Quarantine', await quarantinePage(ctx), ui, flashOf(req.query))),
      );

      scope.get('/validations/:id', async (req, reply) => {
        const id = Number((req.params as { id: string }).id);
        const v = Number.isSafeInteger(id) ? await registry.getValidation(id) : undefined;
        if (!v) return page(reply, 404, layout('Not found', `<p>No validation ${esc(String(id))}.</p>`, ui));
        return page(reply, 200, fs.readFileSync(await store.verify(v.html), 'utf8'));
      });

      scope.post('/approvals/:model/:version', async (req, reply) => {
        const { model, version } = req.params as { model: string; version: string };
        const form = decisionForm(opts.adminToken, req.body, ['approve', 'reject'], 'comment');
        if ('error' in form) return refused(ctx, reply, 'approvals', form.error, form.status);
        const v = Number(version);
        try {
          const answer = await decideCandidateWith(opts.connect, registry, {
            kind: form.decision as 'approve' | 'reject',
            model,
            version: v,
            by: form.by,
            comment: form.text,
          });
          return done(
            reply,
            `/ui/models/${encodeURIComponent(model)}`,
            answer.awaiting
              ? `approval of ${model} v${v} by ${form.by} recorded; it needs ${answer.awaiting} more approver(s)`
              : `${answer.decision} ${model} v${v} by ${form.by}`,
          );
        } catch (err) {
          return refused(ctx, reply, 'approvals', explain(err).message, 409);
        }
      });

      scope.post('/quarantine/:workflowId', async (req, reply) => {
        const { workflowId } = req.params as { workflowId: string };
        const form = decisionForm(opts.adminToken, req.body, ['release', 'discard'], 'reason');
        if ('error' in form) return refused(ctx, reply, 'quarantine', form.error, form.status);
        try {
          const answer = await decideQuarantineWith(opts.connect, registry, {
            kind: form.decision as 'release' | 'discard',
            target: workflowId,
            by: form.by,
            reason: form.text,
          });
          return done(
            reply,
            '/ui/quarantine',
            `${answer.decision} batch ${answer.dataset.slice(0, 12)} of ${answer.model} by ${form.by}` +
              (answer.recorded ? '' : '; the run has not written it to the registry yet, so it may still be listed'),
          );
        } catch (err) {
          return refused(ctx, reply, 'quarantine', explain(err).message, 409);
        }
      });
    },
    { prefix: '/ui' },
  );
}
