// A short error tone for an unknown barcode (WebAudio; silent if audio is unavailable).
let ctx: AudioContext | null = null;
export function beep(freq = 330, ms = 220): void {
  try {
    ctx ??= new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + ms / 1000);
  } catch {
    /* no audio device: the on-screen message is enough */
  }
}

/** A two-note chime for a new kitchen ticket (WebAudio; silent if audio is unavailable). Each
 *  call is counted in `window.__posChimes`, which the e2e tests read. */
export function chime(): void {
  const w = window as unknown as { __posChimes?: number };
  w.__posChimes = (w.__posChimes ?? 0) + 1;
  try {
    ctx ??= new AudioContext();
    const t0 = ctx.currentTime;
    for (const [freq, at] of [[880, 0], [660, 0.18]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.2, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.001, t0 + at + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.4);
    }
  } catch {
    /* no audio device: the ticket on screen is enough */
  }
}
