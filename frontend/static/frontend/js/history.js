// The feature popup's History tab (editors: every version, who made it, when, through which path,
// what changed; a past version drawn on the map and restored) and its Attachments (photos and
// documents; editors upload and remove them). Imported by identify.js when a popup needs it.

import { _, fmt, h, number } from './dom.js';
import { ApiError, etagOf, restoreVersion, send, urls } from './featureapi.js';
import { formatValue } from './identify.js';
import { showOverlay } from './style.js';

const ACCEPTED_FILES = 'image/jpeg,image/png,application/pdf';

function actionName(action) {
  return {
    create: _('Created'), update: _('Changed'), delete: _('Deleted'), restore: _('Restored'),
    import: _('Imported'), sync: _('Synchronised'), attach: _('File attached'), detach: _('File removed'),
    edit: _('Changed in the database'),
  }[action] || action;
}

function channelName(channel) {
  return {
    map: _('web map'), api: _('REST API'), ogc: _('OGC API'), admin: _('admin'), import: _('import'),
    sync: _('sync'), database: _('database (SQL)'),
  }[channel] || channel;
}

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso || '';
  return date.toLocaleString(document.documentElement.lang || 'vi', { dateStyle: 'short', timeStyle: 'medium' });
}

function userName(user) {
  if (!user) return _('the system');
  return typeof user === 'object' ? (user.username || user.name || String(user.id)) : String(user);
}

/**
 * What the change says beyond its action: a restore names the version it brought back and the
 * fields it left out (from its counts, worded here in the reader's language); any other note is
 * shown as written.
 */
function eventNotes(event, fields) {
  const restored = event.counts?.restored_version;
  if (event.action !== 'restore' || !restored) {
    return event.note ? [h('p', { class: 'version-note' }, event.note)] : [];
  }
  const notes = [h('p', { class: 'version-note' }, fmt(_('Restored from version %(n)s.'), { n: restored }))];
  const leftOut = event.counts.left_out || [];
  if (leftOut.length) {
    notes.push(h('p', { class: 'version-note' }, fmt(_('Left out, no longer fields of the layer: %(fields)s.'), {
      fields: leftOut.map((name) => fields.get(name)?.label || name).join(', '),
    })));
  }
  return notes;
}

/** Fill `box` with a feature's history, newest version first. */
export async function renderHistory(box, { config, map, layer, id, onChanged }) {
  box.replaceChildren(h('p', { class: 'popup-status', role: 'status' }, _('Loading the history…')));
  let history;
  try {
    history = (await send('GET', urls(config, layer.slug).history(id))).body;
  } catch (error) {
    box.replaceChildren(h('p', { class: 'popup-status warn' }, fmt(_('The history could not be loaded (%(reason)s).'), { reason: error.message })));
    return;
  }
  const fields = new Map(layer.schema.map((field) => [field.name, field]));
  const status = h('p', { class: 'history-status', role: 'status', hidden: true });
  const items = history.versions.map((version) => {
    const event = version.event || {};
    const changes = Object.entries(version.changes || {});
    const item = h('li', {
      class: `version${version.current ? ' current' : ''}`, 'data-version': version.version, tabindex: '0',
      title: _('Show this version on the map'),
    },
    h('p', { class: 'version-head' },
      h('strong', {}, fmt(_('Version %(n)s'), { n: version.version })), ' · ', actionName(event.action),
      version.current ? h('span', { class: 'badge' }, _('current')) : null),
    h('p', { class: 'version-meta' }, fmt(_('%(who)s, %(when)s, through the %(channel)s'), {
      who: userName(event.user), when: when(event.at || version.valid_from), channel: channelName(event.channel),
    })),
    changes.length ? h('ul', { class: 'version-changes' }, changes.map(([name, change]) => {
      const field = fields.get(name);
      return h('li', {}, h('span', { class: 'field-name' }, field?.label || name), ': ',
        h('del', {}, formatValue(change.before, field?.type)), ' → ', h('ins', {}, formatValue(change.after, field?.type)));
    })) : null,
    version.geometry_changed ? h('p', { class: 'version-geometry' }, _('Geometry changed')) : null,
    ...eventNotes(event, fields));
    const show = () => {
      for (const other of box.querySelectorAll('li.version')) other.classList.toggle('shown', other === item);
      showOverlay(map, [{ geometry: version.geometry, kind: 'past' }]);
    };
    item.addEventListener('click', (click) => { if (!click.target.closest('button')) show(); });
    item.addEventListener('keydown', (key) => { if (key.key === 'Enter') show(); });
    if (!version.current || history.deleted) {
      item.append(h('button', {
        type: 'button', class: 'restore', 'data-version': version.version,
        onclick: async (click) => {
          click.target.disabled = true;
          try {
            // Based on the newest version shown (the current one, or the one deleted): if a
            // colleague changed the feature since the tab opened, the server answers 409.
            await restoreVersion(config, layer.slug, id, version.version, etagOf(id, history.versions[0].version));
            showOverlay(map, []);
            await onChanged?.(layer.slug);
            await renderHistory(box, { config, map, layer, id, onChanged });
            const again = box.querySelector('.history-status');
            again.textContent = fmt(_('Version %(n)s is restored.'), { n: version.version });
            again.hidden = false;
          } catch (error) {
            click.target.disabled = false;
            status.textContent = error instanceof ApiError && error.status === 409
              ? _('Someone changed the feature since this history was opened: it is shown again, newest first.')
              : fmt(_('The version could not be restored (%(reason)s).'), { reason: error.message });
            if (error instanceof ApiError && error.status === 409) {
              await renderHistory(box, { config, map, layer, id, onChanged });
              const again = box.querySelector('.history-status');
              again.textContent = status.textContent;
              again.hidden = false;
              return;
            }
            status.hidden = false;
          }
        },
      }, _('Restore this version')));
    }
    return item;
  });
  const deleted = history.deleted ? [h('p', { class: 'popup-status warn' }, _('This feature is deleted; a version can bring it back.'))] : [];
  box.replaceChildren(...deleted, status, h('ol', { class: 'history' }, items));
}

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return `${number(bytes / 1024 / 1024, { maximumFractionDigits: 1 })} MB`;
  return `${number(Math.max(1, Math.round(bytes / 1024)))} kB`;
}

/** Fill `section` with a feature's attachments; editors get upload and remove. */
export async function renderAttachments(section, { config, layer, id, editable }) {
  const api = urls(config, layer.slug);
  let attachments;
  try {
    attachments = (await send('GET', api.attachments(id))).body.results || [];
  } catch {
    section.hidden = true; // none to show (or attachments are not served here)
    return;
  }
  if (!attachments.length && !editable) {
    section.hidden = true;
    return;
  }
  const status = h('p', { class: 'attachment-status', role: 'status', hidden: true });
  const say = (text) => { status.textContent = text; status.hidden = false; };
  const again = () => renderAttachments(section, { config, layer, id, editable });
  const items = attachments.map((attachment) => {
    const preview = attachment.thumbnail_url
      ? h('img', { src: attachment.thumbnail_url, alt: attachment.name, loading: 'lazy' })
      : h('span', { class: 'file-icon', 'aria-hidden': 'true' }, 'PDF');
    const item = h('li', { class: 'attachment', 'data-attachment': attachment.id },
      h('a', { href: attachment.url, target: '_blank', rel: 'noopener', title: attachment.name }, preview,
        h('span', { class: 'attachment-name' }, attachment.name)),
      h('span', { class: 'attachment-size' }, sizeText(attachment.size || 0)));
    if (editable) {
      item.append(h('button', {
        type: 'button', class: 'link remove', 'aria-label': fmt(_('Remove %(name)s'), { name: attachment.name }),
        onclick: () => {
          item.append(h('span', { class: 'confirm' }, _('Remove it?'), ' ',
            h('button', {
              type: 'button', class: 'link danger confirm-remove',
              onclick: async () => {
                try {
                  await send('DELETE', api.attachment(id, attachment.id));
                  await again();
                } catch (error) {
                  say(fmt(_('The file could not be removed (%(reason)s).'), { reason: error.message }));
                }
              },
            }, _('Yes')),
            ' ', h('button', { type: 'button', class: 'link', onclick: (click) => click.target.parentElement.remove() }, _('No'))));
        },
      }, '×'));
    }
    return item;
  });
  const nodes = [h('h4', {}, _('Attachments')), status];
  nodes.push(items.length ? h('ul', { class: 'attachments-list' }, items) : h('p', { class: 'popup-status' }, _('No files yet.')));
  if (editable) {
    const input = h('input', {
      type: 'file', accept: ACCEPTED_FILES, class: 'attachment-file', 'aria-label': _('Attach a photo or PDF'),
      onchange: async () => {
        const file = input.files[0];
        if (!file) return;
        const form = new FormData();
        form.append('file', file);
        say(_('Uploading…'));
        try {
          await send('POST', api.attachments(id), { body: form });
          await again();
        } catch (error) {
          say(error instanceof ApiError && error.status === 400 ? error.message
            : fmt(_('The file could not be uploaded (%(reason)s).'), { reason: error.message }));
        }
      },
    });
    nodes.push(h('label', { class: 'attach' }, _('Attach a photo or PDF:'), ' ', input));
  }
  section.replaceChildren(...nodes);
  section.hidden = false;
}
