// run.ts -- (being written)
import { h } from "../dom";
import { View } from "../router";
export function runView(): View { return { el: h("div", null, "runView") }; }
