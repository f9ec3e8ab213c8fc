// The 24-hour chart of a card: ECharts with only the parts it uses (line chart, grid,
// tooltip, legend, canvas renderer), in its own chunk.
import { LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { Series } from './api';

echarts.use([LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

const COLOURS = ['#4fc3f7', '#ffd23f', '#ff5252'];

export function drawChart(el: HTMLElement, series: Series[]): () => void {
  const fontSize = parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8;
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  chart.setOption({
    animation: false,
    color: COLOURS,
    textStyle: { fontFamily: 'Noto Sans KR, sans-serif', fontSize, color: '#c9d8ea' },
    grid: { left: 8, right: 16, top: fontSize * 2.4, bottom: 8, containLabel: true },
    legend: { top: 0, textStyle: { color: '#c9d8ea', fontSize } },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'time', axisLabel: { color: '#9fb3c8', fontSize, hideOverlap: true }, axisLine: { lineStyle: { color: '#41566e' } } },
    yAxis: { type: 'value', scale: true, axisLabel: { color: '#9fb3c8', fontSize }, splitLine: { lineStyle: { color: '#1e2d40' } } },
    series: series.map((s) => ({ name: s.attr, type: 'line', showSymbol: false, lineStyle: { width: 3 }, data: s.points })),
  });
  const ro = new ResizeObserver(() => chart.resize());
  ro.observe(el);
  return () => {
    ro.disconnect();
    chart.dispose();
  };
}
