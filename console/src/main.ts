import { mount } from "svelte";
import "uplot/dist/uPlot.min.css";
import "./app.css";
import App from "./App.svelte";

const started = performance.now();
mount(App, { target: document.getElementById("app")! });
// For the end-to-end test's first-load figure (docs/benchmarks.md).
(window as unknown as { __consoleMounted: number }).__consoleMounted = started;
