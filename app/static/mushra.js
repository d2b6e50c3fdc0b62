// The MUSHRA panel (ITU-R BS.1534-3), run by gr.HTML's js_on_load with `element`, `trigger`, `props`, `watch`.
// props.value is the trial (app/mushra.py panel_spec). As in webMUSHRA, every stimulus is decoded with the Web
// Audio API and all of them play in sync, each through its own gain node; a stimulus button sets which gain is 1,
// so switching keeps the playback position with no gap and no overlap. The panel reports to the server what is
// heard (trigger 'listen': {previous, current} slots, -1 for the reference or silence) and the scores on saving
// (trigger 'rate': {page, scores}); window.mushraPanel exposes its state to the browser tests.
(() => {
  const root = element.querySelector(".mushra-root") || element;
  let panel = null;

  const audioContext = () => {
    window.mushraAudioContext = window.mushraAudioContext || new AudioContext();
    return window.mushraAudioContext;
  };
  const fill = (text, label) => text.replace("{label}", label);
  const make = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const fileUrl = (file) => {
    const url = (file && (file.url || file.path)) || "";
    if (/^https?:/.test(url)) return url;
    const base = (window.gradio_config && window.gradio_config.root) || window.location.origin;
    return base.replace(/\/$/, "") + "/" + url.replace(/^\//, "");
  };

  class Panel {
    constructor(spec) {
      this.spec = spec;
      this.texts = spec.texts;
      this.options = spec.options;
      this.stimuli = spec.stimuli;
      this.context = audioContext();
      this.buffers = null;
      this.sources = [];
      this.gains = this.stimuli.map(() => {
        const gain = this.context.createGain();
        gain.gain.value = 0;
        gain.connect(this.context.destination);
        return gain;
      });
      this.current = 0; // index into stimuli; 0 is the open reference
      this.playing = false;
      this.offset = 0; // playback position (s) while stopped, and where the running sources started
      this.startedAt = 0; // context time at which the running sources started at `offset`
      this.generation = 0;
      this.starts = 0; // how many times the sources were (re)started: switching with "keep" never restarts them
      this.played = this.stimuli.map(() => false);
      this.scores = this.stimuli.map(() => null); // null: the slider was never touched (index 0 unused)
      this.duration = 0;
      this.loop = [0, 0];
      this.onKey = (event) => this.key(event);
      this.build();
      document.addEventListener("keydown", this.onKey, true);
      document.addEventListener("keyup", this.onKey, true);
      this.decode();
    }

    build() {
      const t = this.texts;
      root.replaceChildren();
      const panel = make("div", "mushra-panel");
      const transport = make("div", "mushra-transport");
      this.playButton = make("button", "mushra-play", t.play);
      this.stopButton = make("button", "mushra-stop", t.stop);
      this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
      this.stopButton.addEventListener("click", () => this.stop());
      this.status = make("span", "mushra-status", t.loading);
      transport.append(this.playButton, this.stopButton, this.status);
      this.wave = make("div", "mushra-wave");
      this.canvas = make("canvas");
      this.region = make("div", "mushra-region");
      this.cursor = make("div", "mushra-cursor");
      this.wave.append(this.canvas, this.region, this.cursor);
      this.region.hidden = !this.options.loop;
      this.wave.title = this.options.loop ? t.loop_hint : "";
      this.wave.addEventListener("pointerdown", (event) => this.drag(event));
      const grid = make("div", "mushra-grid");
      grid.style.setProperty("--columns", String(this.stimuli.length));
      this.buttons = this.stimuli.map((stimulus, index) => {
        const button = make("button", "mushra-stimulus", stimulus.label);
        if (index === 0) {
          // the reference's name does not fit a phone's column: a short one there, the full one for screen readers
          const long = make("span", "mushra-long", stimulus.label);
          button.replaceChildren(long, make("span", "mushra-short", t.reference_short));
          button.setAttribute("aria-label", stimulus.label);
        }
        button.dataset.index = String(index);
        button.addEventListener("click", () => this.select(index));
        return button;
      });
      const scale = make("div", "mushra-scale");
      for (const label of this.spec.bands) scale.append(make("span", "", label));
      grid.append(this.buttons[0]);
      this.sliders = [null];
      this.values = [null];
      for (let index = 1; index < this.stimuli.length; index++) grid.append(this.buttons[index]);
      grid.append(scale);
      for (let index = 1; index < this.stimuli.length; index++) {
        const column = make("div", "mushra-column");
        const slider = make("input", "mushra-slider");
        Object.assign(slider, { type: "range", min: "0", max: "100", step: "1", value: "0" });
        slider.setAttribute("aria-label", fill(t.score_for, this.stimuli[index].label));
        slider.addEventListener("input", () => this.score(index, Number(slider.value)));
        const value = make("output", "mushra-value", t.untouched);
        column.append(slider, value);
        grid.append(column);
        this.sliders.push(slider);
        this.values.push(value);
      }
      const footer = make("div", "mushra-footer");
      const how = this.options.switching === "restart" ? t.hint_restart : t.hint;
      this.hint = make("span", "mushra-hint", `${how} ${t.keys}`);
      this.saveButton = make("button", "mushra-save", t.save);
      this.saveButton.addEventListener("click", () => this.save());
      footer.append(this.hint, this.saveButton);
      panel.append(transport, this.wave, grid, footer);
      root.append(panel);
      this.render();
    }

    async decode() {
      try {
        const decoded = await Promise.all(
          this.stimuli.map(async (stimulus) => {
            const response = await fetch(fileUrl(stimulus.audio));
            if (!response.ok) throw new Error(`HTTP ${response.status}`);
            return this.context.decodeAudioData(await response.arrayBuffer());
          }),
        );
        if (panel !== this) return;
        this.buffers = decoded;
        this.duration = Math.min(...decoded.map((buffer) => buffer.duration));
        this.loop = [0, this.duration];
        this.status.textContent = "";
        this.draw();
        this.render();
      } catch (error) {
        console.error("MUSHRA panel:", error);
        this.status.textContent = this.texts.failed;
      }
    }

    // --- playback -----------------------------------------------------------------------------------------
    position() {
      if (!this.playing) return this.offset;
      const elapsed = Math.max(0, this.context.currentTime - this.startedAt);
      const at = this.offset + elapsed;
      const [start, end] = this.loop;
      if (this.options.loop && at >= end) return start + ((at - start) % (end - start));
      return Math.min(at, this.duration);
    }

    startSources() {
      const [start, end] = this.loop;
      if (this.options.loop && (this.offset < start || this.offset >= end)) this.offset = start;
      if (!this.options.loop && this.offset >= this.duration) this.offset = 0;
      const generation = ++this.generation;
      const when = this.context.currentTime + 0.02; // every source starts on the same sample
      this.sources = this.buffers.map((buffer, index) => {
        const source = this.context.createBufferSource();
        source.buffer = buffer;
        source.loop = this.options.loop;
        source.loopStart = start;
        source.loopEnd = end;
        source.connect(this.gains[index]);
        source.start(when, this.offset);
        return source;
      });
      this.sources[0].onended = () => {
        if (generation === this.generation && this.playing) this.finished();
      };
      this.startedAt = when;
      this.starts += 1;
    }

    stopSources() {
      this.generation += 1;
      for (const source of this.sources) {
        source.onended = null;
        source.stop();
        source.disconnect();
      }
      this.sources = [];
    }

    hear(index) {
      // exactly one gain is 1: the one of the stimulus heard (none while stopped)
      const now = this.context.currentTime;
      this.gains.forEach((gain, i) => gain.gain.setValueAtTime(i === index ? 1 : 0, now));
    }

    play() {
      if (!this.buffers || this.playing) return;
      this.context.resume();
      this.startSources();
      this.playing = true;
      this.hear(this.current);
      this.played[this.current] = true;
      this.report(-1, this.slot(this.current));
      this.render();
      this.animate();
    }

    pause() {
      if (!this.playing) return;
      this.offset = this.position();
      this.halt();
    }

    stop() {
      const wasPlaying = this.playing;
      this.offset = this.options.loop ? this.loop[0] : 0;
      if (wasPlaying) this.halt();
      else this.render();
    }

    finished() {
      this.offset = 0;
      this.halt();
    }

    halt() {
      this.stopSources();
      this.playing = false;
      this.hear(-1);
      this.report(this.slot(this.current), -1);
      this.render();
    }

    select(index) {
      if (index === this.current || index < 0 || index >= this.stimuli.length) return;
      const previous = this.current;
      this.current = index;
      if (this.playing) {
        if (this.options.switching === "restart") {
          this.stopSources();
          this.offset = this.loop[0];
          this.startSources();
        }
        this.hear(index);
        this.played[index] = true;
        this.report(this.slot(previous), this.slot(index));
      }
      this.render();
    }

    slot(index) {
      return this.stimuli[index].slot;
    }

    report(previous, current) {
      if (previous !== current) trigger("listen", { previous, current });
    }

    // --- loop region and waveform --------------------------------------------------------------------------
    setLoop(start, end) {
      const resume = this.playing;
      const at = this.position();
      if (resume) this.stopSources();
      this.loop = [start, end];
      this.offset = at >= start && at < end ? at : start;
      if (resume) this.startSources();
      this.render();
    }

    drag(event) {
      if (!this.buffers) return;
      const box = this.wave.getBoundingClientRect();
      const time = (x) => Math.min(this.duration, Math.max(0, ((x - box.left) / box.width) * this.duration));
      const at = time(event.clientX);
      if (!this.options.loop) {
        // no loop region: a click on the waveform moves the playback position there
        if (this.playing) {
          this.stopSources();
          this.offset = at;
          this.startSources();
        } else this.offset = at;
        this.render();
        return;
      }
      event.preventDefault();
      const [start, end] = this.loop;
      const near = (t) => (Math.abs(t - at) / this.duration) * box.width < 12;
      let anchor = near(start) ? end : near(end) ? start : at; // grab an edge, or draw a new region
      let moved = anchor !== at;
      const update = (x) => {
        const other = time(x);
        const low = Math.min(anchor, other);
        const high = Math.max(anchor, other);
        if (high - low >= 0.1) {
          this.pending = [low, high];
          this.region.style.left = `${(100 * low) / this.duration}%`;
          this.region.style.width = `${(100 * (high - low)) / this.duration}%`;
          moved = true;
        }
      };
      const move = (e) => update(e.clientX);
      const up = () => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        if (moved && this.pending) this.setLoop(...this.pending);
        this.pending = null;
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    }

    draw() {
      const canvas = this.canvas;
      const width = Math.max(200, Math.floor(this.wave.clientWidth || 600));
      const height = Math.max(40, Math.floor(this.wave.clientHeight || 64));
      canvas.width = width;
      canvas.height = height;
      const samples = this.buffers[0].getChannelData(0);
      const step = Math.max(1, Math.floor(samples.length / width));
      const draw = canvas.getContext("2d");
      draw.fillStyle = getComputedStyle(this.wave).color;
      let peak = 1e-9;
      for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
      for (let x = 0; x < width; x++) {
        let low = 0;
        let high = 0;
        for (let i = x * step; i < Math.min(samples.length, (x + 1) * step); i++) {
          low = Math.min(low, samples[i]);
          high = Math.max(high, samples[i]);
        }
        const top = (0.5 - (0.48 * high) / peak) * height;
        draw.fillRect(x, top, 1, Math.max(1, (0.96 * (high - low) * height) / (2 * peak)));
      }
    }

    animate() {
      const frame = () => {
        if (panel !== this) return;
        this.moveCursor();
        if (this.playing) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    }

    moveCursor() {
      if (this.duration) this.cursor.style.left = `${(100 * this.position()) / this.duration}%`;
    }

    // --- sliders, keyboard and saving ----------------------------------------------------------------------
    canRate(index) {
      if (index < 1 || !this.played[index]) return false;
      return !this.options.exclusiveSliders || index === this.current;
    }

    score(index, value) {
      if (!this.canRate(index)) return;
      this.scores[index] = Math.min(100, Math.max(0, Math.round(value)));
      this.render();
    }

    key(event) {
      if (panel !== this || !root.offsetParent) return;
      const target = event.target;
      if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "range"))) return;
      const keys = [" ", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown"];
      if (!keys.includes(event.key)) return;
      event.preventDefault();
      event.stopPropagation();
      if (event.type !== "keydown") return;
      const last = this.stimuli.length - 1;
      if (event.key === " ") this.playing ? this.pause() : this.play();
      else if (event.key === "ArrowLeft") this.select(this.current > 0 ? this.current - 1 : last);
      else if (event.key === "ArrowRight") this.select(this.current < last ? this.current + 1 : 0);
      else if (this.current > 0) {
        const step = event.key === "PageUp" || event.key === "PageDown" || event.shiftKey ? 10 : 1;
        const sign = event.key === "ArrowUp" || event.key === "PageUp" ? 1 : -1;
        this.score(this.current, (this.scores[this.current] ?? 0) + sign * step);
      }
    }

    save() {
      this.pause(); // the listening time of the clip heard is closed before the scores arrive
      trigger("rate", { page: this.spec.page, scores: this.scores.slice(1) });
    }

    render() {
      const t = this.texts;
      this.playButton.textContent = this.playing ? t.pause : t.play;
      this.playButton.disabled = this.stopButton.disabled = !this.buffers;
      this.buttons.forEach((button, index) => {
        button.disabled = !this.buffers;
        button.setAttribute("aria-pressed", String(index === this.current));
        button.classList.toggle("mushra-heard", this.played[index]);
      });
      for (let index = 1; index < this.stimuli.length; index++) {
        const slider = this.sliders[index];
        const open = this.canRate(index);
        const label = this.stimuli[index].label;
        slider.disabled = !open;
        slider.title = open ? "" : fill(this.played[index] ? t.exclusive : t.locked, label);
        if (this.scores[index] !== null) slider.value = String(this.scores[index]);
        this.values[index].textContent = this.scores[index] === null ? t.untouched : String(this.scores[index]);
        slider.closest(".mushra-column").classList.toggle("mushra-current", index === this.current);
      }
      if (this.duration) {
        const [start, end] = this.loop;
        this.region.style.left = `${(100 * start) / this.duration}%`;
        this.region.style.width = `${(100 * (end - start)) / this.duration}%`;
      }
      this.moveCursor();
    }

    state() {
      return {
        page: this.spec.page,
        loaded: Boolean(this.buffers),
        playing: this.playing,
        current: this.current,
        position: this.position(),
        contextTime: this.context.currentTime,
        starts: this.starts,
        gains: this.gains.map((gain) => gain.gain.value),
        played: [...this.played],
        scores: this.scores.slice(1),
        loop: [...this.loop],
        duration: this.duration,
      };
    }

    close() {
      if (this.playing) this.halt();
      document.removeEventListener("keydown", this.onKey, true);
      document.removeEventListener("keyup", this.onKey, true);
      for (const gain of this.gains) gain.disconnect();
    }
  }

  const load = (spec) => {
    if (panel) panel.close();
    panel = spec && spec.stimuli ? new Panel(spec) : null;
    if (!panel) root.replaceChildren();
    window.mushraPanel = panel;
  };
  watch("value", () => load(props.value));
  load(props.value);
})();
