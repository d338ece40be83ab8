// The dashboards and usage events for the fake back end (fake-backend.js,
// injected after this, calls window.__fakeInsights with its internals): the
// `dashboard` command answers fixed, known numbers cut into the periods
// asked for, so tests can check what the charts draw; `record_event` keeps
// events only while analytics are on, as the app does.
(() => {
  window.__fakeInsights = (ctx) => {
    const { db, ME, opts, err, clone, T0 } = ctx;
    const settings = ctx.settings;
    // Usage events record_event kept (nothing while analytics are off, like the app).
    const events = [];
    const UI_EVENTS = {
      prompt_copied: ["prompt_id"], prompt_used: ["prompt_id"], listing_viewed: ["listing_id"], search_run: ["collection", "query_length", "results"],
    };
    function recordEvent(report) {
      const fields = report && UI_EVENTS[report.event];
      if (!fields) throw err("invalid", `report: unknown variant \`${report && report.event}\``);
      for (const f of fields) if (report[f] == null) throw err("invalid", `report: missing field \`${f}\``);
      if (settings().analytics_enabled) events.push(Object.assign(clone(report), { at: Date.now() }));
      return null;
    }

    // The dashboards' numbers: fixed series (the tests know them), cut into the
    // periods asked for. With the option `empty`, a library with nothing in it.
    const DASH = {
      uses: [2, 5, 3, 8, 6, 0, 4, 9, 12, 7, 5, 10],
      copies: [1, 2, 0, 3, 2, 0, 1, 4, 5, 2, 3, 6],
      sales: [0, 1, 0, 2, 1, 0, 0, 3, 1, 0, 2, 2],
      // Per period kind, so switching periods changes what is drawn.
      factor: { day: 1, week: 1, month: 3 },
      reversed: { day: true, week: false, month: false },
      price: 50, earnings: 40,
    };
    const DAY = 86400000;
    function isoWeek(ms) {
      const t = new Date(ms);
      const day = (t.getUTCDay() + 6) % 7;
      const thursday = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() - day + 3));
      const jan4 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
      const week = 1 + Math.round(((thursday - jan4) / DAY - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
      return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
    }
    // The periods, oldest first, ending with the one holding T0 (in UTC).
    function periods(period, n) {
      const out = [];
      const t0 = new Date(T0);
      for (let k = n - 1; k >= 0; k--) {
        let start;
        if (period === "day") start = Date.UTC(t0.getUTCFullYear(), t0.getUTCMonth(), t0.getUTCDate() - k);
        else if (period === "week") start = Date.UTC(t0.getUTCFullYear(), t0.getUTCMonth(), t0.getUTCDate() - ((t0.getUTCDay() + 6) % 7) - 7 * k);
        else start = Date.UTC(t0.getUTCFullYear(), t0.getUTCMonth() - k, 1);
        const iso = new Date(start).toISOString();
        out.push({ label: period === "day" ? iso.slice(0, 10) : period === "week" ? isoWeek(start) : iso.slice(0, 7), start_ms: start });
      }
      return out;
    }
    function series(name, period, n) {
      const base = DASH[name];
      return Array.from({ length: n }, (_, i) => {
        // The newest period takes the pattern's last value, whatever n is.
        const j = ((base.length - n + i) % base.length + base.length) % base.length;
        const v = base[DASH.reversed[period] ? base.length - 1 - j : j];
        return opts.empty ? 0 : v * DASH.factor[period];
      });
    }
    function dashboard(r) {
      if (!r || !["day", "week", "month"].includes(r.period)) throw err("invalid", `request.period: unknown variant \`${r && r.period}\``);
      const n = r.buckets == null ? 12 : r.buckets;
      if (!Number.isInteger(n) || n < 1 || n > 366) throw err("invalid", "buckets must be 1 to 366");
      const at = periods(r.period, n);
      const uses = series("uses", r.period, n);
      const copies = series("copies", r.period, n);
      const sold = series("sales", r.period, n);
      // One refund, in the period with the most sales.
      const refundAt = opts.empty ? -1 : sold.indexOf(Math.max(...sold));
      const sales = at.map((b, i) => ({
        ...b, sales: sold[i], revenue: sold[i] * DASH.price, earnings: sold[i] * DASH.earnings,
        refunds: i === refundAt ? 1 : 0, refunded: i === refundAt ? DASH.price : 0,
      }));
      const total = (k) => sales.reduce((a, b) => a + b[k], 0);
      const creator = opts.empty
        ? { prompt_count: 0, most_used: [], uses: at.map((b) => ({ ...b, uses: 0, copies: 0 })), versions: [] }
        : {
          prompt_count: db.prompts.filter((p) => p.user_id === ME && p.deleted_at == null).length,
          most_used: [
            { prompt_id: "p1", title: "Blog post outline", uses: 42, views: 120, last_used_ms: T0 - 3600000 },
            { prompt_id: "p3", title: "Email template", uses: 17, views: 40, last_used_ms: T0 - 2 * DAY },
            { prompt_id: "p2", title: "Code reviewer", uses: 9, views: 31, last_used_ms: T0 - 5 * DAY },
            { prompt_id: "p5", title: "Tweet writer", uses: 3, views: 12, last_used_ms: null },
          ],
          uses: at.map((b, i) => ({ ...b, uses: uses[i], copies: copies[i] })),
          versions: [
            { prompt_id: "p1", title: "Blog post outline", versions: 3 },
            { prompt_id: "p2", title: "Code reviewer", versions: 1 },
            { prompt_id: "p3", title: "Email template", versions: 1 },
            { prompt_id: "p5", title: "Tweet writer", versions: 1 },
          ],
        };
      const seller = opts.empty
        ? { sales, totals: { sales: 0, revenue: 0, earnings: 0, refunds: 0, refunded: 0 }, listings: [], ratings: [0, 0, 0, 0, 0] }
        : {
          sales,
          totals: { sales: total("sales"), revenue: total("revenue"), earnings: total("earnings"), refunds: total("refunds"), refunded: total("refunded") },
          listings: [
            { listing_id: "l1", title: "Blog outline pack", views: 200, purchases: 9, conversion: 0.045 },
            { listing_id: "l7", title: "SEO helper pack", views: 25, purchases: 3, conversion: 0.12 },
            { listing_id: "l5", title: "Rejected pack", views: 16, purchases: 0, conversion: 0 },
          ],
          ratings: [0, 1, 0, 3, 6],
        };
      return { time_zone: r.time_zone || "UTC", period: r.period, creator, seller };
    }

    return { dashboard, recordEvent, events };
  };
})();
