// i2i progressive enhancement. Every page works without this file; with it, posting is
// chat-quick (counter, Ctrl+Enter, no reload), "#" suggests tags, new notes arrive live
// (Server-Sent Events) behind an "N new notes" button, and times read as "5 min ago".
'use strict';

(function () {
  const MAX = 500;

  function csrfOf(form) {
    const field = form.querySelector('input[name=_csrf]');
    return field ? field.value : '';
  }

  async function fragment(id) {
    const response = await fetch('/fragments/posts/' + id, { credentials: 'same-origin' });
    if (!response.ok) return null;
    const holder = document.createElement('div');
    holder.innerHTML = (await response.text()).trim();
    return holder.firstElementChild;
  }

  // ---- relative times -------------------------------------------------------------
  function relative(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 45) return 'just now';
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + ' min ago';
    const hours = Math.round(minutes / 60);
    if (hours < 24) return hours + ' h ago';
    const days = Math.round(hours / 24);
    if (days < 7) return days + (days === 1 ? ' day ago' : ' days ago');
    return null; // older: keep the absolute date
  }

  function refreshTimes(root) {
    root.querySelectorAll('.card time[datetime]').forEach((el) => {
      const date = new Date(el.getAttribute('datetime'));
      if (isNaN(date)) return;
      if (!el.dataset.absolute) el.dataset.absolute = el.textContent;
      el.title = el.getAttribute('datetime');
      el.textContent = relative(date) || el.dataset.absolute;
    });
  }

  // ---- live updates ---------------------------------------------------------------
  function live(container) {
    const url = container.dataset.stream;
    const oldestFirst = container.dataset.order === 'oldest';
    const pending = [];
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'new-notes';
    button.hidden = true;
    container.appendChild(button);

    function seen(id) {
      return document.getElementById('post-' + id) !== null || pending.includes(id);
    }

    button.addEventListener('click', async () => {
      const ids = pending.splice(0, pending.length);
      button.hidden = true;
      for (const id of ids) {
        if (document.getElementById('post-' + id)) continue;
        const card = await fragment(id);
        if (!card) continue;
        card.classList.add('arrived');
        if (oldestFirst) {
          container.parentNode.appendChild(card);
        } else {
          container.after(card);
        }
        refreshTimes(card);
      }
    });

    const source = new EventSource(url);
    source.addEventListener('post', (event) => {
      const post = JSON.parse(event.data);
      if (seen(post.id)) return;
      pending.push(post.id);
      button.textContent = pending.length === 1 ? '1 new note' : pending.length + ' new notes';
      button.hidden = false;
    });
    source.addEventListener('delete', (event) => {
      const { id } = JSON.parse(event.data);
      const card = document.getElementById('post-' + id);
      if (card) card.remove();
    });
  }

  // ---- tag suggestions ------------------------------------------------------------
  const TAG_BEFORE_CARET = /(^|[^\p{L}\p{N}/)&])#([\p{L}\p{N}_-]*)$/u;
  const TAGS_IN_TEXT = /(?:^|[^\p{L}\p{N}/)&])#([\p{L}\p{N}_-]*\p{L}[\p{L}\p{N}_-]*)/gu;

  function suggestions(textarea, form) {
    const list = document.createElement('ul');
    list.className = 'suggestions';
    list.id = textarea.id + '-suggestions';
    list.setAttribute('role', 'listbox');
    list.setAttribute('aria-label', 'Tag suggestions');
    list.hidden = true;
    textarea.after(list);
    textarea.setAttribute('aria-autocomplete', 'list');
    textarea.setAttribute('aria-controls', list.id);
    let items = [];
    let active = -1;
    let request = 0;

    function close() {
      list.hidden = true;
      items = [];
      active = -1;
      textarea.removeAttribute('aria-activedescendant');
    }

    function highlight(index) {
      active = index;
      list.querySelectorAll('li').forEach((li, i) => li.setAttribute('aria-selected', String(i === index)));
      if (index >= 0) textarea.setAttribute('aria-activedescendant', list.id + '-' + index);
    }

    function pick(index) {
      const item = items[index];
      if (!item) return;
      const caret = textarea.selectionStart;
      const before = textarea.value.slice(0, caret);
      const match = before.match(TAG_BEFORE_CARET);
      if (!match) return close();
      const start = caret - match[2].length;
      const insert = item.display + ' ';
      textarea.value = textarea.value.slice(0, start) + insert + textarea.value.slice(caret);
      textarea.selectionStart = textarea.selectionEnd = start + insert.length;
      textarea.dispatchEvent(new Event('input'));
      close();
      textarea.focus();
    }

    async function update() {
      const before = textarea.value.slice(0, textarea.selectionStart);
      const match = before.match(TAG_BEFORE_CARET);
      if (!match) return close();
      const typed = [...textarea.value.matchAll(TAGS_IN_TEXT)].map((m) => m[1]).filter((t) => t !== match[2]);
      const params = new URLSearchParams({ prefix: match[2], limit: '8' });
      typed.forEach((t) => params.append('with', t));
      const incident = form.querySelector('input[name=incident]');
      if (incident && incident.value.trim()) params.set('incident', incident.value.trim());
      const mine = ++request;
      const response = await fetch('/api/v1/tags?' + params, { credentials: 'same-origin' });
      if (mine !== request || !response.ok) return;
      items = (await response.json()).items;
      list.replaceChildren();
      if (items.length === 0) return close();
      items.forEach((item, i) => {
        const li = document.createElement('li');
        li.id = list.id + '-' + i;
        li.setAttribute('role', 'option');
        li.textContent = '#' + item.display;
        const why = document.createElement('span');
        why.className = 'why';
        why.textContent = item.reason === 'prefix' ? item.posts + ' notes' : item.reason;
        if (item.alias) why.textContent += ' · for #' + item.alias;
        li.appendChild(why);
        if (item.description) {
          const desc = document.createElement('span');
          desc.className = 'desc';
          desc.textContent = item.description;
          li.appendChild(desc);
        }
        li.addEventListener('mousedown', (event) => { event.preventDefault(); pick(i); });
        list.appendChild(li);
      });
      list.hidden = false;
      highlight(0);
    }

    textarea.addEventListener('input', update);
    textarea.addEventListener('blur', () => setTimeout(close, 150));
    textarea.addEventListener('keydown', (event) => {
      if (list.hidden) return;
      if (event.key === 'ArrowDown') { event.preventDefault(); highlight((active + 1) % items.length); }
      else if (event.key === 'ArrowUp') { event.preventDefault(); highlight((active - 1 + items.length) % items.length); }
      else if ((event.key === 'Enter' || event.key === 'Tab') && !event.ctrlKey && !event.metaKey && active >= 0) { event.preventDefault(); pick(active); }
      else if (event.key === 'Escape') { close(); }
    });
  }

  // ---- compose --------------------------------------------------------------------
  function compose(form) {
    const textarea = form.querySelector('textarea[name=body]');
    if (!textarea) return;
    const counter = document.createElement('span');
    counter.className = 'counter';
    counter.setAttribute('aria-live', 'polite');
    const row = form.querySelector('.row') || form;
    row.appendChild(counter);
    const status = document.createElement('p');
    status.className = 'error';
    status.setAttribute('role', 'alert');
    status.hidden = true;
    form.prepend(status);

    function count() {
      const used = [...textarea.value.trim()].length;
      counter.textContent = used + ' / ' + MAX;
      counter.classList.toggle('over', used > MAX);
    }
    textarea.addEventListener('input', count);
    count();
    suggestions(textarea, form);

    textarea.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const payload = { body: textarea.value };
      const incident = form.querySelector('input[name=incident]');
      if (incident && incident.value.trim()) payload.incident = incident.value.trim();
      const reply = form.querySelector('input[name=reply_to]');
      if (reply && reply.value) payload.reply_to = Number(reply.value);
      const response = await fetch('/api/v1/posts', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfOf(form) },
        body: JSON.stringify(payload),
      });
      if (response.status === 201) {
        const post = await response.json();
        status.hidden = true;
        textarea.value = '';
        count();
        const card = await fragment(post.id);
        const liveBox = document.querySelector('.live');
        if (card && !document.getElementById('post-' + post.id)) {
          card.classList.add('arrived');
          if (liveBox && liveBox.dataset.order === 'oldest') liveBox.parentNode.appendChild(card);
          else if (liveBox) liveBox.after(card);
          else form.after(card);
          refreshTimes(card);
        }
        textarea.focus();
        return;
      }
      let message = 'the note was not posted (' + response.status + ')';
      try { message = (await response.json()).error.message; } catch (_) { /* keep the status */ }
      status.textContent = message;
      status.hidden = false;
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.querySelectorAll('form.compose').forEach(compose);
    document.querySelectorAll('.live[data-stream]').forEach(live);
    refreshTimes(document);
    setInterval(() => refreshTimes(document), 60000);
  });
})();
