// The dashboard's script: draws each chart from the data table printed under it (the table is
// the chart's accessible form and its single source of numbers), filters tables as one types,
// and asks before destructive changes. No inline script anywhere: the page's CSP forbids it.
'use strict';

(function () {
  const palette = ['#1f5fa8', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0e7490', '#a16207',
    '#be185d', '#4d7c0f', '#6b7280'];

  /** The table's data: row names, series names, and one array of numbers per series. */
  function readTable(table) {
    const series = Array.from(table.tHead.rows[0].cells).slice(1).map((c) => c.textContent.trim());
    const labels = [];
    const values = series.map(() => []);
    for (const row of table.tBodies[0].rows) {
      labels.push(row.cells[0].textContent.trim());
      Array.from(row.cells).slice(1).forEach((cell, i) => values[i].push(Number(cell.dataset.value)));
    }
    return { labels, series, values };
  }

  function draw(table) {
    const canvas = document.querySelector(`canvas[data-chart="${table.dataset.chartTable}"]`);
    if (!canvas || typeof window.Chart === 'undefined') return;
    const kind = table.dataset.kind;
    const { labels, series, values } = readTable(table);
    const datasets = series.map((name, i) => ({
      label: name,
      data: values[i],
      backgroundColor: kind === 'doughnut' ? labels.map((_, j) => palette[j % palette.length]) : palette[i % palette.length],
      borderColor: kind === 'doughnut' ? '#ffffff' : palette[i % palette.length],
      fill: false,
      tension: 0.2,
    }));
    const stacked = kind === 'bar' && series.length > 1;
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: kind === 'doughnut' || series.length > 1, position: 'bottom' } },
    };
    if (kind !== 'doughnut') {
      options.scales = { x: { stacked }, y: { stacked, beginAtZero: true, ticks: { precision: 0 } } };
    }
    new window.Chart(canvas, { type: kind, data: { labels, datasets }, options });
  }

  function filterable(input) {
    const table = document.getElementById(input.dataset.filterTable);
    if (!table) return;
    input.addEventListener('input', () => {
      const needle = input.value.trim().toLowerCase();
      for (const row of table.tBodies[0].rows) {
        row.hidden = needle !== '' && !row.textContent.toLowerCase().includes(needle);
      }
    });
  }

  function confirming(form) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.querySelectorAll('table[data-chart-table]').forEach(draw);
    document.querySelectorAll('input[data-filter-table]').forEach(filterable);
    document.querySelectorAll('form[data-confirm]').forEach(confirming);
    document.documentElement.dataset.ready = 'true';
  });
}());
