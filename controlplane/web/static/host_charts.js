// The dashboard's history of the host's use (SPEC A8): CPU, memory, network and data-disk
// line charts (Chart.js) over GET /api/v1/status/samples, drawn again on every refresh of
// the page (never a reload). Times are shown on the appliance's clock (its time zone).
(() => {
  const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400 };
  // Time-axis ticks on round times of the appliance's clock (minutes, hours, days): the
  // first step of the range's that leaves each label room (about 60 px).
  const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;
  const TICK_STEPS = { "1h": [10 * MIN, 15 * MIN, 20 * MIN, 30 * MIN],
                       "24h": [3 * HOUR, 4 * HOUR, 6 * HOUR, 12 * HOUR], "7d": [DAY, 2 * DAY, 7 * DAY] };
  const BLUE = "#0d6efd", GREEN = "#198754", ORANGE = "#fd7e14", PURPLE = "#6f42c1";

  function rate(bytesPerSecond) {
    let v = bytesPerSecond * 8;
    for (const unit of ["bps", "Kbps", "Mbps", "Gbps"]) {
      if (v < 1000 || unit === "Gbps") return (v < 10 && unit !== "bps" ? v.toFixed(1) : Math.round(v)) + " " + unit;
      v /= 1000;
    }
  }
  const percent = v => (v < 10 ? v.toFixed(1) : Math.round(v)) + "%";
  const axisPercent = v => Math.round(v) + "%";

  function create(root, T) {
    let range = "1h", offsetMs = 0, skewMs = 0, last = null;
    const charts = {};
    const p = n => String(n).padStart(2, "0");
    function label(ms, withDay, withTime = true) {
      const d = new Date(ms + offsetMs);  // the server's wall clock, read with getUTC*
      const day = `${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`;
      const time = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
      return !withTime ? day : withDay ? `${day} ${time}` : time;
    }
    function roundTicks(axis) {
      const room = Math.max(2, Math.floor(axis.chart.width / 60));
      const steps = TICK_STEPS[range];
      const step = steps.find(s => (axis.max - axis.min) / s <= room) || steps[steps.length - 1];
      const ticks = [];
      for (let v = Math.ceil((axis.min + offsetMs) / step) * step - offsetMs; v <= axis.max; v += step) {
        ticks.push({ value: v });
      }
      axis.ticks = ticks;
    }
    function chart(name, datasets, opts) {
      const canvas = root.querySelector(`canvas[data-chart="${name}"]`);
      return new Chart(canvas, {
        type: "line",
        data: { datasets: datasets.map(([text, color]) => ({
          label: text, data: [], borderColor: color, backgroundColor: color + "22",
          borderWidth: 1.5, fill: datasets.length === 1, pointRadius: 0, pointHoverRadius: 3,
          tension: 0.25 })) },
        options: {
          animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { type: "linear", afterBuildTicks: roundTicks, grid: { display: false },
                 ticks: { maxRotation: 0, callback: v => label(v, false, range !== "7d") } },
            y: { beginAtZero: true, ...(opts.max ? { max: opts.max } : {}),
                 ticks: { maxTicksLimit: 5, callback: opts.axis || opts.tick } },
          },
          plugins: {
            legend: { display: false },  // the network's two lines: named above the chart
            tooltip: { callbacks: {
              title: items => items.length ? label(items[0].parsed.x, true) : "",
              label: item => `${item.dataset.label}: ${opts.tick(item.parsed.y)}` } },
          },
        },
      });
    }
    const pct = { max: 100, tick: percent, axis: axisPercent };
    charts.cpu = chart("cpu", [[T.cpu, BLUE]], pct);
    charts.memory = chart("memory", [[T.memory, PURPLE]], pct);
    charts.network = chart("network", [[T.rx, GREEN], [T.tx, ORANGE]], { tick: rate });
    charts.disk = chart("disk", [[T.disk, BLUE]], pct);
    const series = { cpu: ["cpu"], memory: ["memory"], network: ["rx_bps", "tx_bps"], disk: ["disk"] };

    function draw(answer, nowMs) {
      const items = answer.items;
      // No line across a time nothing was sampled in: three steps of the series.
      const steps = items.slice(1).map((item, i) => item.t - items[i].t).sort((a, b) => a - b);
      const step = Math.max(answer.interval_s, steps.length ? steps[steps.length >> 1] : 0);
      const gap = step * 1000 * 3;
      for (const [name, fields] of Object.entries(series)) {
        const c = charts[name];
        fields.forEach((field, i) => {
          const ds = c.data.datasets[i];
          ds.data = items.map(item => ({ x: item.t * 1000, y: item[field] }));
          ds.pointRadius = items.length < 3 ? 2 : 0;
        });
        c.options.spanGaps = gap;
        c.options.scales.x.min = nowMs - RANGES[range] * 1000;
        c.options.scales.x.max = nowMs;
        c.update("none");
      }
      const latest = items[items.length - 1];
      const now = name => root.querySelector(`[data-now="${name}"]`);
      now("cpu").textContent = latest ? percent(latest.cpu) : "—";
      now("memory").textContent = latest ? percent(latest.memory) : "—";
      now("rx").textContent = latest ? rate(latest.rx_bps) : "—";
      now("tx").textContent = latest ? rate(latest.tx_bps) : "—";
      now("disk").textContent = latest ? percent(latest.disk) : "—";
      root.querySelectorAll("[data-role=empty]").forEach(el => el.classList.toggle("d-none", items.length > 0));
    }

    // zone: the appliance's clock minus UTC; skew: the appliance's time minus this
    // browser's (both in ms, from the status answer; kept when not given).
    async function refresh(zone, skew) {
      if (zone !== undefined) offsetMs = zone;
      if (skew !== undefined) skewMs = skew;
      const asked = range;
      try {
        const answer = await vcbox.api("GET", `/api/v1/status/samples?range=${asked}`, null, { background: true });
        if (asked !== range) return;  // the range changed while this was on its way
        last = answer;
        draw(answer, Date.now() + skewMs);
        root.querySelector("[data-role=error]").classList.add("d-none");
      } catch (err) {
        if (!(err instanceof vcbox.ApiError)) throw err;
        const el = root.querySelector("[data-role=error]");
        el.textContent = T.failed; el.classList.remove("d-none");
      }
    }

    root.querySelectorAll("[data-range]").forEach(btn => btn.addEventListener("click", () => {
      range = btn.dataset.range;
      root.querySelectorAll("[data-range]").forEach(b => {
        b.classList.toggle("active", b === btn); b.setAttribute("aria-pressed", String(b === btn));
      });
      refresh();
    }));
    return { refresh, charts, get last() { return last; } };
  }

  window.vcboxHostCharts = create;
})();
