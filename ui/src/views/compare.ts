// compare.ts -- (being written)
import { h } from "../dom";
import { View } from "../router";
export function compareView(): View { return { el: h("div", null, "compareView") }; }
