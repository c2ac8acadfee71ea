// deployments.ts -- (being written)
import { h } from "../dom";
import { View } from "../router";
export function deploymentsView(): View { return { el: h("div", null, "deploymentsView") }; }
export function deploymentView(): View { return { el: h("div", null, "deploymentView") }; }
