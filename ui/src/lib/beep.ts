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
