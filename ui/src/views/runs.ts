// runs.ts -- (being written)
import { h } from "../dom";
import { View } from "../router";
export function runsView(): View { return { el: h("div", null, "runsView") }; }
