// models.ts -- (being written)
import { h } from "../dom";
import { View } from "../router";
export function modelsView(): View { return { el: h("div", null, "modelsView") }; }
export function modelView(): View { return { el: h("div", null, "modelView") }; }
export function versionView(): View { return { el: h("div", null, "versionView") }; }
