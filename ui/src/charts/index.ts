// Every plot of the experiment page, loaded (with ECharts) only when one is shown.
export { historyChart } from "./history";
export { importanceChart } from "./importance";
export { intermediateChart } from "./intermediate";
export { parallelChart } from "./parallel";
export { contourChart, sliceChart } from "./slice";
export { paretoChart } from "./pareto";
