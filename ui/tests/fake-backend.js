// An in-memory stand-in for the Rust side, injected into the page before the
// app loads. It answers every command of src/api.ts and the event plugin, and
// exposes window.__fake for the tests: emit events, see calls, force errors.
(() => {
  const opts = Object.assign(
    { signedIn: true, bulk: 150, localDocuments: 12, empty: false, status: null, balance: 100 },
    window.__FAKE_OPTIONS__ || {},
  );
  const ME = "user-1";
  const T0 = Date.parse("2026-11-20T10:00:00Z");
  const d = (minutes) => ({ $date: new Date(T0 + minutes * 60000).toISOString() });
  const now = () => ({ $date: new Date().toISOString() });
  const clone = (x) => (x === undefined ? null : JSON.parse(JSON.stringify(x)));
  // Documents as the app sends them: fields without a value are left out, not null.
  const unset = (x) =>
    Array.isArray(x) ? x.map(unset)
    : x && typeof x === "object" && !("$date" in x)
      ? Object.fromEntries(Object.entries(x).filter(([, v]) => v !== null).map(([k, v]) => [k, unset(v)]))
      : x;
  // The commands whose answers are documents (or pages and lists of them).
  const DOCUMENT_ANSWERS = new Set([
    "list_documents", "get_document", "create_document", "update_document", "delete_document", "restore_document",
    "prompt_versions", "restore_prompt_version", "fork_prompt", "publish_listing", "buy_listing", "refund_purchase", "review_purchase",
    "team_request",
  ]);
  let seq = 1000;
  const newId = (p) => `${p}-${++seq}`;
  const err = (code, message) => ({ code, message });

  const db = {
    prompts: [],
    prompt_versions: [],
    ideas: [],
    projects: [],
    marketplace_listings: [],
    marketplace_purchases: [],
    notifications: [],
    reviews: [],
    teams: [],
    users: [],
  };
  // The sync server's side of teams: teams Ada is not in (so not in her
  // library) and the invitations no client pulls ("team_id/user_id").
  const serverTeams = [];
  const invitations = {};

  function prompt(f) {
    const base = {
      _id: newId("prompt"), user_id: ME, title: "", description: null, content: "", role: null, category: "general", tags: [],
      difficulty: "beginner", language: "en", type: "text", project_id: null, folder_id: null, parent_prompt_id: null, template_id: null,
      status: "draft", visibility: "private", is_template: false, is_featured: false, version: 1, latest_version_id: "",
      has_unsaved_changes: false,
      performance: { rating: 0, effectiveness: 0, test_count: 0, success_rate: 0, avg_response_time: 0, token_count: 0 },
      analytics: { view_count: 0, use_count: 0, share_count: 0, like_count: 0, download_count: 0, comment_count: 0, last_used_at: null },
      marketplace: { is_listed: false, listing_id: null, price: 0, sales_count: 0, revenue: 0, average_rating: 0, review_count: 0 },
      collaboration: { is_collaborative: false, allowed_users: [], permissions: {}, active_editors: [], last_edited_by: null, lock_expiry: null },
      ai_metadata: { generated_by: null, enhanced_by: null, optimization_history: [], model_compatibility: [], parameters: {} },
      created_at: d(0), updated_at: d(0), created_by: ME, last_modified_by: ME, deleted_at: null, deleted_by: null,
    };
    return Object.assign(base, f);
  }
  function addVersion(p, changes, at) {
    const v = {
      _id: newId("ver"), prompt_id: p._id, user_id: ME, content: p.content, role: p.role,
      // Numbered per prompt, independently of `version` (the sync revision).
      version_number: db.prompt_versions.filter((x) => x.prompt_id === p._id).length + 1,
      type: p.type, changes, created_at: at || now(), created_by: ME, version: 1,
    };
    db.prompt_versions.push(v);
    p.latest_version_id = v._id;
  }
  function idea(f) {
    return Object.assign({
      _id: newId("idea"), user_id: ME, title: "", description: "", content: null,
      generated_by: { model: null, prompt: null, parameters: {}, session_id: null, batch_id: null },
      category: "general", tags: [], complexity: "simple", viral_potential: 0, feasibility: 0, status: "raw", development_stage: 0,
      implementation_notes: null, project_id: null, related_prompt_ids: [], inspiration_source_ids: [], derived_idea_ids: [],
      starred: false, priority: "medium", personal_notes: null, shared_with: [], comment_count: 0, like_count: 0,
      ai_enhancement: { enhanced_versions: [], marketability_score: null, technical_feasibility: null, business_potential: null },
      created_at: d(0), updated_at: d(0), created_by: ME, last_reviewed_at: null, deleted_at: null, deleted_by: null, version: 1,
    }, f);
  }
  function project(f) {
    return Object.assign({
      _id: newId("project"), user_id: ME, title: "", description: null, color: null, icon: null, category: "general", tags: [],
      parent_project_id: null, template_id: null, prompt_ids: [], idea_ids: [], resource_ids: [], status: "planning", progress: 0,
      priority: "medium", collaboration: { visibility: "private", allowed_users: [], permissions: {}, team_id: null },
      stats: { prompt_count: 0, idea_count: 0, collaborator_count: 0, test_count: 0, total_views: 0, last_activity: null },
      timeline: { start_date: null, end_date: null, milestones: [] },
      settings: { auto_save: true, version_control: true, enable_comments: false, public_readonly: false, allow_forks: false },
      created_at: d(0), updated_at: d(0), created_by: ME, last_modified_by: ME, deleted_at: null, deleted_by: null, version: 1,
    }, f);
  }
  function listing(f) {
    return Object.assign({
      _id: newId("listing"), seller_id: ME, prompt_id: "", title: "", description: "", short_description: "", category: "general", tags: [],
      price: 0, currency: "credits", original_price: null, discount_percentage: null, preview_content: "", screenshots: [], demo_url: null,
      quality_score: 0, performance_metrics: { average_response_time: 0, success_rate: 0, user_satisfaction: 0 },
      status: "draft", moderation_status: "not_reviewed", moderation_notes: null, moderated_by: null, moderated_at: null,
      analytics: { view_count: 0, purchase_count: 0, revenue: 0, conversion_rate: 0, refund_count: 0, refund_rate: 0 },
      reviews: { average_rating: 0, total_reviews: 0, rating_distribution: {} },
      seo: { slug: null, meta_title: null, meta_description: null, keywords: [], searchable_content: null },
      promotion: { is_featured: false, featured_until: null, promotion_type: null, campaign_id: null },
      seller: { display_name: "Ada", profile_image: null, verified_seller: false, seller_rating: 0, total_sales: 0 },
      licensing: { license_type: null, usage_rights: [], restrictions: [], attribution_required: false },
      created_at: d(0), updated_at: d(0), published_at: null, deleted_at: null, deleted_reason: null, deleted_by: null, version: 1,
    }, f);
  }
  function purchase(f) {
    return Object.assign({
      _id: newId("purchase"), buyer_id: ME, seller_id: "user-2", listing_id: "", prompt_id: "", amount: 0, currency: "credits",
      payment_method: "credits", platform_fee_rate: 0.2, platform_fee: 0, seller_earnings: 0, payment_status: "completed",
      fulfillment_status: "delivered", delivered_at: d(0), download_url: null, download_expires_at: null, download_count: 0,
      customer_satisfaction: { rating: null, review: null, would_recommend: null, reviewed_at: null }, refund: { amount: 0 },
      created_at: d(0), updated_at: d(0), completed_at: d(0), version: 1,
    }, f);
  }
  function member(role, at, invitedBy) {
    return { role, joined_at: at || now(), invited_by: invitedBy || null, permissions: [] };
  }
  function team(f) {
    return Object.assign({
      _id: newId("team"), name: "", description: null, avatar_url: null, organization_id: null, plan_type: "free",
      members: {}, member_count: 0,
      resources: { prompt_quota: 0, storage_quota: 0, ai_credits_quota: 0, prompts_used: 0, storage_used: 0, ai_credits_used: 0 },
      settings: { visibility: "private", allow_invites: false, require_approval: false, default_permissions: [] },
      stats: { total_prompts: 0, total_ideas: 0, total_projects: 0, active_members: 0, monthly_activity: {} },
      created_at: d(0), updated_at: d(0), created_by: ME, deleted_at: null, deleted_by: null, version: 1,
    }, f);
  }
  function notification(f) {
    return Object.assign({
      _id: newId("note"), user_id: ME, type: "info", title: "", message: "", action_text: null, action_url: null, category: "general",
      priority: "normal", read: false, read_at: null, dismissed: false, dismissed_at: null, image_url: null, icon_name: null, icon_color: null,
      targeted_features: [], user_segment: null, delivery_channels: ["in_app"], delivery_status: {}, campaign_id: null, batch_id: null,
      expires_at: null, created_at: d(0), updated_at: d(0), version: 1,
    }, f);
  }

  db.users.push({
    _id: ME, email: "ada@example.com", display_name: "Ada", photo_url: null, email_verified: true, account_status: "active",
    created_at: d(0), last_login_at: d(0), last_active_at: d(0),
    subscription: { tier: "pro", status: "active", stripe_customer_id: null, stripe_subscription_id: null, current_period_end: null, cancel_at_period_end: null },
    credits: { balance: opts.balance, total_purchased: 200, total_spent: 100, last_purchase_at: null },
    profile: { bio: "I write prompts.", website: null, location: "Berlin", company: null, job_title: null, expertise: ["writing"], social_links: {} },
    preferences: { theme: "system", language: "en", timezone: null, notifications: {}, privacy: {}, interface: {} },
    stats: { prompts_created: 5, ideas_generated: 2, tests_run: 0, marketplace_sales: 1, total_earnings: 40, average_rating: 4.5, total_reviews: 2, followers_count: 0, following_count: 0 },
    partnership: { is_partner: false, partner_tier: null, application_status: null, applied_at: null, approved_at: null },
    security: { two_factor_enabled: false, last_password_change: null, suspicious_activity_detected: false, gdpr_consent: true, gdpr_consent_date: null, data_retention_until: null },
    updated_at: d(0), version: 1,
  });

  const otherUser = (id, name, email) => ({
    _id: id, email, display_name: name, photo_url: null, email_verified: true, account_status: "active",
    created_at: d(0), last_login_at: d(0), last_active_at: d(0), updated_at: d(0), version: 1,
  });
  // Accounts the server knows (for invitations by email); their public faces are in the library.
  db.users.push(otherUser("user-2", "Bob", "bob@example.com"), otherUser("user-3", "Cy", "cy@example.com"), otherUser("user-4", "Dee", "dee@example.com"));

  if (!opts.empty) {
    const p1 = prompt({ _id: "p1", title: "Blog post outline", description: "Outlines for posts", content: "Write an outline\nfor a blog post\nabout cats", category: "writing", tags: ["blog", "seo"], status: "active", updated_at: d(300), created_at: d(10) });
    addVersion(p1, "First draft", d(10));
    p1.version = 7; p1.content = "Write an outline\nfor a blog post\nabout dogs"; addVersion(p1, "Dogs now", d(100));
    p1.version = 9; p1.content = "Write a detailed outline\nfor a blog post\nabout dogs\nwith headings"; addVersion(p1, "More detail", d(300));
    const p2 = prompt({ _id: "p2", title: "Code reviewer", content: "Review this code", category: "coding", tags: ["code"], difficulty: "advanced", project_id: "proj1", updated_at: d(200) });
    addVersion(p2, "Created");
    const p3 = prompt({ _id: "p3", title: "Email template", content: "Dear {name},\n{body}", category: "writing", is_template: true, visibility: "public", status: "active", updated_at: d(150) });
    addVersion(p3, "Created");
    const p4 = prompt({ _id: "p4", title: "Old deleted prompt", content: "gone", deleted_at: d(50), deleted_by: ME, updated_at: d(50) });
    addVersion(p4, "Created");
    const p5 = prompt({ _id: "p5", title: "Tweet writer", content: "Write a tweet", category: "marketing", visibility: "marketplace", folder_id: "social", status: "active", updated_at: d(120) });
    addVersion(p5, "Created");
    // A template someone else owns (shared with Ada): templates are not only her own.
    const p6 = prompt({ _id: "p6", user_id: "user-2", created_by: "user-2", last_modified_by: "user-2", title: "Support reply template", content: "Hi {name}, thanks for writing.", category: "support", is_template: true, visibility: "shared", updated_at: d(110) });
    addVersion(p6, "Created");
    db.prompts.push(p1, p2, p3, p4, p5, p6);
    for (let i = 1; i <= opts.bulk; i++) {
      const p = prompt({ _id: "bulk" + i, title: "Bulk prompt " + String(i).padStart(4, "0"), content: "Bulk content " + i, category: "misc", updated_at: d(-i) });
      db.prompts.push(p);
    }
    db.ideas.push(
      idea({ _id: "i1", title: "Recipe chatbot", description: "A bot that suggests recipes", priority: "high", project_id: "proj1", related_prompt_ids: ["p1"], updated_at: d(20) }),
      idea({ _id: "i2", title: "SEO assistant", description: "Keyword helper", status: "developing", priority: "low", starred: true, updated_at: d(30) }),
    );
    db.projects.push(
      project({
        _id: "proj1", title: "Launch kit", description: "Everything for the launch", status: "active", progress: 50, prompt_ids: ["p2"], idea_ids: ["i1"],
        stats: { prompt_count: 1, idea_count: 1, collaborator_count: 0, test_count: 0, total_views: 0, last_activity: null },
        timeline: { start_date: null, end_date: null, milestones: [
          { title: "Draft copy", due_date: d(1000), completed: true, completed_at: d(900) },
          { title: "Review", due_date: null, completed: false, completed_at: null },
        ] },
        updated_at: d(40),
      }),
      project({ _id: "proj2", title: "Side project", updated_at: d(10), collaboration: { visibility: "private", allowed_users: [], permissions: {}, team_id: "t1" } }),
    );
    db.marketplace_listings.push(
      listing({ _id: "l1", title: "Blog outline pack", prompt_id: "p1", price: 50, description: "Great outlines", updated_at: d(60) }),
      listing({ _id: "l2", seller_id: "user-2", seller: { display_name: "Bob", profile_image: null, verified_seller: true, seller_rating: 4, total_sales: 3 }, title: "Poem generator", prompt_id: "x1", price: 30, status: "approved", moderation_status: "approved", description: "Poems", updated_at: d(70) }),
      listing({ _id: "l3", seller_id: "user-2", title: "SQL helper", prompt_id: "x2", price: 500, status: "approved", moderation_status: "approved", description: "Queries", updated_at: d(65) }),
      listing({ _id: "l4", seller_id: "user-3", title: "Resume polisher", prompt_id: "x3", price: 20, status: "approved", moderation_status: "approved", description: "CVs", updated_at: d(5) }),
      listing({ _id: "l5", title: "Rejected pack", prompt_id: "p5", price: 10, status: "rejected", moderation_status: "flagged", moderation_notes: "Preview is missing.", updated_at: d(3) }),
    );
    db.marketplace_purchases.push(
      purchase({ _id: "pu1", listing_id: "l4", seller_id: "user-3", prompt_id: "x3copy", amount: 20, created_at: d(6) }),
      // Someone else's purchase of Ada's listing (the seller sees it synced too).
      purchase({ _id: "pu2", buyer_id: "user-3", seller_id: ME, listing_id: "l1", prompt_id: "x9", amount: 50, created_at: d(7) }),
    );
    // Ada owns one team and is a viewer in Bob's; Cy's team she is not in.
    db.teams.push(
      team({ _id: "t1", name: "Writers' room", description: "Everyone who writes copy", created_at: d(5), updated_at: d(80),
        members: { [ME]: member("owner", d(5)), "user-2": member("admin", d(6), ME), "user-3": member("editor", d(7), ME) }, member_count: 3 }),
      team({ _id: "t2", name: "Design guild", created_by: "user-2", created_at: d(8), updated_at: d(90),
        members: { "user-2": member("owner", d(8)), [ME]: member("viewer", d(9), "user-2") }, member_count: 2 }),
    );
    serverTeams.push(team({ _id: "t3", name: "Research club", created_by: "user-3", members: { "user-3": member("owner", d(3)) }, member_count: 1 }));
    db.notifications.push(
      notification({ _id: "n1", title: "Your listing sold", message: "Someone bought Blog outline pack.", type: "success", created_at: d(500) }),
      notification({ _id: "n2", title: "Welcome to PromptForge", message: "Start by writing a prompt.", created_at: d(400) }),
      notification({ _id: "n3", title: "Old news", message: "Already read.", read: true, read_at: d(350), created_at: d(300) }),
      notification({ _id: "n4", title: "Dismissed news", message: "Put away.", read: true, read_at: d(250), dismissed: true, dismissed_at: d(260), created_at: d(200) }),
      notification({ _id: "n5", title: "Dismissed unread", message: "Put away unread.", dismissed: true, dismissed_at: d(210), created_at: d(190) }),
      notification({ _id: "n6", user_id: "user-2", title: "Bob's news", message: "Not for Ada.", created_at: d(450) }),
    );
  }

  // As get_settings answers with the distribution's defaults filled in; `settings` (an option) overrides fields.
  let settings = Object.assign(
    {
      server_url: "https://sync.example.com", theme: "light", language: "en", firebase_api_key: "fake-api-key", firebase_project_id: "promptforge-fake", auth_url: null,
      analytics_enabled: true, analytics_retention_days: 90,
    },
    opts.settings || {},
  );
  let account = opts.signedIn ? { user_id: ME, email: "ada@example.com", server_url: "https://sync.example.com" } : null;
  // Whose library this is (app_info's user_id): Ada's, or the last account signed in.
  let libraryUser = ME;
  // The sign-in service's accounts made with sign_up (email -> { user_id, password }); the
  // people in db.users have accounts too (any password but "wrong" signs them in).
  const signups = {};
  // Password-reset links asked for (their emails), for the tests.
  const resets = [];
  let conflicts = opts.empty ? [] : [
    { id: "c1", collection: "prompts", doc_id: "p1", kind: "field", field: "title", mine: "My title", theirs: "Their title", resolution: "server_wins", lost_saved_as: null, at: d(600), resolved: null },
    { id: "c2", collection: "ideas", doc_id: "i1", kind: "field", field: "description", mine: "mine desc", theirs: "their desc", resolution: "server_wins", lost_saved_as: null, at: d(601), resolved: null },
    { id: "c3", collection: "prompts", doc_id: "p2", kind: "edit_vs_delete", field: null, mine: { title: "Code reviewer" }, theirs: null, resolution: "delete_wins", lost_saved_as: null, at: d(602), resolved: null },
  ];
  let attention = opts.empty ? [] : [
    { mutation_id: 7, collection: "prompts", doc_id: "p2", op: "patch", reason: "invalid", message: "The title is longer than 200 characters.", at: d(610) },
    { mutation_id: 8, collection: "ideas", doc_id: "i2", op: "delete", reason: "forbidden", message: "You may not delete this idea.", at: d(611) },
  ];
  let status = Object.assign(
    { pending: 2, oldest_pending_age_secs: 30, needs_attention: attention.length, open_conflicts: conflicts.length, last_synced_at: { $date: new Date(Date.now() - 120000).toISOString() }, live: false, state: "up_to_date" },
    opts.status || {},
  );

  const calls = [];
  const failures = {};
  const callbacks = new Map();
  const listeners = {};
  let cbId = 1;
  let evId = 1;

  function get(col, id) {
    return db[col].find((x) => x._id === id) || null;
  }
  function must(col, id) {
    const doc = get(col, id);
    if (!doc) throw err("not_found", "That item no longer exists.");
    return doc;
  }
  function setPath(doc, path, value) {
    const parts = path.split(".");
    let o = doc;
    for (let i = 0; i < parts.length - 1; i++) {
      if (o[parts[i]] == null || typeof o[parts[i]] !== "object") o[parts[i]] = {};
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = clone(value);
  }
  function dateOf(x) {
    return x && x.$date ? Date.parse(x.$date) : 0;
  }
  // Who owns a document, as the back end's `mine` filter sees it.
  const OWNER = {
    prompts: "user_id", ideas: "user_id", projects: "user_id", notifications: "user_id", prompt_versions: "user_id", reviews: "user_id",
    marketplace_listings: "seller_id", marketplace_purchases: "buyer_id", users: "_id", teams: "created_by",
  };
  // A notification's `status` is derived from its flags.
  const noteStatus = (n) => (n.dismissed ? "dismissed" : n.read ? "read" : "unread");
  function list(col, q) {
    q = q || {};
    if (q.limit != null && q.limit < 0) throw err("invalid", "query.limit: a page size is a whole number.");
    // Like the store: 0 or unset means 50, and a page holds at most 1000.
    const limit = q.limit == null || q.limit === 0 ? 50 : Math.min(q.limit, 1000);
    const offset = q.offset || 0;
    let items = db[col].slice();
    const del = q.deleted || "exclude";
    if ("deleted_at" in (items[0] || {}) || col === "prompts" || col === "ideas" || col === "projects") {
      if (del === "exclude") items = items.filter((x) => x.deleted_at == null);
      if (del === "only") items = items.filter((x) => x.deleted_at != null);
    }
    if (q.mine) items = items.filter((x) => x[OWNER[col]] === ME);
    if (q.text) {
      const t = q.text.toLowerCase();
      items = items.filter((x) => ["title", "description", "content", "message"].some((k) => typeof x[k] === "string" && x[k].toLowerCase().includes(t)));
    }
    if (q.status != null && col === "notifications") items = items.filter((x) => noteStatus(x) === q.status);
    for (const k of ["status", "category", "project_id", "folder_id", "priority", "visibility", "difficulty"]) {
      if (k === "status" && col === "notifications") continue;
      if (q[k] != null) items = items.filter((x) => x[k] === q[k]);
    }
    if (q.starred != null) items = items.filter((x) => !!x.starred === q.starred);
    // Like the catalog: only documents that have the flag (prompts) can match.
    if (q.is_template != null) items = items.filter((x) => typeof x.is_template === "boolean" && x.is_template === q.is_template);
    if (q.tags && q.tags.length) items = items.filter((x) => q.tags.every((t) => (x.tags || []).includes(t)));
    const sort = q.sort || "updated_at";
    const keyed = items.map((x, i) => ({ x, i, k: sort === "title" ? String(x.title) : dateOf(x[sort]) }));
    keyed.sort((a, b) => (sort === "title" ? a.k.localeCompare(b.k) : a.k - b.k) || a.i - b.i);
    items = keyed.map((e) => e.x);
    // Like the Rust catalog: dates newest first, titles A-Z, unless reversed.
    const newestFirst = sort !== "title";
    if (newestFirst !== !!q.reverse) items.reverse();
    return { items: clone(items.slice(offset, offset + limit)), total: items.length, offset, limit };
  }
  // Online actions of a library that is not signed in, as the app refuses them.
  function online() {
    if (!account) throw err("local_only", "This library is not signed in to a sync server. Sign in under Settings to use the marketplace and sync.");
  }
  // Operations only the server decides (teams, sharing): signed in and reachable.
  function reachable() {
    online();
    if (status.state === "offline" || opts.offline) throw err("offline", "The sync server cannot be reached.");
  }
  // The sign-in service, as sign_in, sign_up and send_password_reset reach it.
  function authService() {
    if (!settings.server_url) throw err("not_configured", "Set the sync server's URL in Settings before signing in.");
    if (!settings.firebase_api_key) throw err("not_configured", "Set the Firebase API key in Settings before signing in.");
    if (status.state === "offline" || opts.offline) throw err("offline", "The sign-in service cannot be reached. Check the connection and try again.");
  }
  const wellFormed = (email) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(email || "").trim());
  function enter(user_id, email) {
    account = { user_id, email, server_url: settings.server_url || "" };
    libraryUser = user_id;
    return clone(account);
  }
  function touch(doc) {
    doc.updated_at = now();
  }
  function balance() {
    return db.users[0].credits.balance;
  }

  // Presence: which prompt the editor says is open, and the last view shown of it.
  let presenceOpen = null;
  let presenceView = null;

  function emit(event, payload) {
    for (const l of listeners[event] || []) {
      const cb = callbacks.get(l.handler);
      if (cb) cb({ event, id: l.id, payload: clone(payload) });
    }
  }
  function setStatus(patch) {
    status = Object.assign({}, status, patch);
    if (patch.state && patch.state !== "syncing") {
      delete status.phase; delete status.done; delete status.total;
    }
    emit("sync-status", status);
  }

  // Teams and sharing, as the sync server decides them (fake-server.js, injected before this file).
  const server = window.__fakeServer({
    db, ME, opts, err, clone, now, touch, emit, reachable, d, serverTeams, invitations,
    make: { prompt, idea, project, team, member, notification },
  });
  const { teamRequest, teamNotify } = server.teams;
  const shareRequest = server.shareRequest;
  // Dashboards and usage events (fake-insights.js, injected before this file too).
  const insights = window.__fakeInsights({ db, ME, opts, err, clone, T0, settings: () => settings });

  const commands = {
    app_info: () => ({ version: "0.1.0", profile_dir: "/home/ada/.promptforge", log_dir: "/home/ada/.promptforge/logs", user_id: libraryUser, account: clone(account), local_documents: opts.localDocuments }),
    ui_ready: () => null,
    list_documents: ({ collection, query }) => list(collection, query),
    get_document: ({ collection, id }) => clone(get(collection, id)),
    create_document: ({ collection, fields }) => {
      let doc;
      if (collection === "prompts") {
        if (!fields.title || typeof fields.content !== "string") throw err("invalid", "A prompt needs a title and content.");
        doc = prompt({ created_at: now(), updated_at: now() });
        for (const [k, v] of Object.entries(fields)) setPath(doc, k, v);
        addVersion(doc, "Created");
      } else if (collection === "ideas") {
        if (!fields.title) throw err("invalid", "An idea needs a title.");
        doc = idea({ created_at: now(), updated_at: now() });
        for (const [k, v] of Object.entries(fields)) setPath(doc, k, v);
      } else if (collection === "projects") {
        if (!fields.title) throw err("invalid", "A project needs a title.");
        doc = project({ created_at: now(), updated_at: now() });
        for (const [k, v] of Object.entries(fields)) setPath(doc, k, v);
      } else if (collection === "marketplace_listings") {
        if (!fields.prompt_id || !fields.title) throw err("invalid", "A listing needs a prompt and a title.");
        doc = listing({ created_at: now(), updated_at: now() });
        for (const [k, v] of Object.entries(fields)) setPath(doc, k, v);
      } else throw err("not_allowed", `${collection} cannot be created from the app`);
      db[collection].push(doc);
      return clone(doc);
    },
    update_document: ({ collection, id, changes }) => {
      const doc = must(collection, id);
      if (collection === "prompts" && "title" in changes && !changes.title) throw err("invalid", "A prompt needs a title.");
      const before = collection === "prompts" ? { content: doc.content, role: doc.role } : null;
      for (const [k, v] of Object.entries(changes)) setPath(doc, k, v);
      touch(doc);
      if (before && (before.content !== doc.content || before.role !== doc.role)) {
        doc.version += 1;
        addVersion(doc, "Edited");
      }
      return clone(doc);
    },
    delete_document: ({ collection, id }) => {
      const doc = must(collection, id);
      doc.deleted_at = now();
      doc.deleted_by = ME;
      return clone(doc);
    },
    restore_document: ({ collection, id }) => {
      const doc = must(collection, id);
      doc.deleted_at = null;
      doc.deleted_by = null;
      return clone(doc);
    },
    // Newest first, as the store answers.
    prompt_versions: ({ promptId }) => {
      must("prompts", promptId);
      return clone(db.prompt_versions.filter((v) => v.prompt_id === promptId).sort((a, b) => b.version_number - a.version_number));
    },
    restore_prompt_version: ({ promptId, number }) => {
      const p = must("prompts", promptId);
      const v = db.prompt_versions.find((x) => x.prompt_id === promptId && x.version_number === number);
      if (!v) throw err("not_found", "That version does not exist.");
      p.content = v.content;
      p.role = v.role;
      p.version += 1;
      touch(p);
      addVersion(p, "Restored v" + number);
      return clone(p);
    },
    fork_prompt: ({ promptId, changes }) => {
      const src = must("prompts", promptId);
      const doc = Object.assign(clone(src), { _id: newId("prompt"), parent_prompt_id: src._id, version: 1, created_at: now(), updated_at: now(), is_template: false, deleted_at: null });
      for (const [k, v] of Object.entries(changes || {})) setPath(doc, k, v);
      db.prompts.push(doc);
      addVersion(doc, "Forked");
      return clone(doc);
    },
    sync_status: () => clone(status),
    sync_now: () => {
      online();
      return null;
    },
    list_conflicts: ({ includeResolved }) => clone(conflicts.filter((c) => includeResolved || c.resolved == null)),
    resolve_conflict: ({ id, resolution }) => {
      const c = conflicts.find((x) => x.id === id);
      if (!c) throw err("not_found", "That conflict is gone.");
      if (c.kind === "delete_vs_edit" && resolution === "keep_both") {
        throw err("not_allowed", "A document cannot be both deleted and kept.");
      }
      c.resolved = resolution;
      setStatus({ open_conflicts: conflicts.filter((x) => x.resolved == null).length });
      return clone(c);
    },
    list_attention: () => clone(attention),
    settle_attention: ({ mutationId }) => {
      attention = attention.filter((a) => a.mutation_id !== mutationId);
      setStatus({ needs_attention: attention.length });
      return null;
    },
    set_presence: ({ promptId, editing }) => {
      presenceOpen = promptId == null ? null : { promptId, editing };
      if (!presenceOpen || (presenceView && presenceView.prompt_id !== promptId)) presenceView = null;
      return null;
    },
    // Like the engine: locks the prompt set_presence opened; needs the server.
    lock_prompt: ({ lockSecs }) => {
      if (!account) throw err("local_only", "This library is not signed in to a sync server.");
      if (!presenceOpen) throw err("bad_answer", "no prompt is open to lock");
      const lock = lockSecs == null ? null : { user_id: ME, name: "Ada", mine: true, until_ms: Date.now() + lockSecs * 1000 };
      presenceView = { prompt_id: presenceOpen.promptId, others: presenceView ? presenceView.others : [], lock };
      return clone(presenceView);
    },
    get_settings: () => clone(settings),
    save_settings: ({ settings: s }) => {
      const days = s.analytics_retention_days;
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw err("invalid", `analytics_retention_days must be 1 to 3650, not ${days}`);
      settings = clone(s);
      return clone(settings);
    },
    sign_in: ({ email, password }) => {
      authService();
      const made = signups[String(email).trim().toLowerCase()];
      if (password === "wrong" || (made && made.password !== password)) throw err("auth_failed", "The email or password is not right.");
      return enter(made ? made.user_id : ME, String(email).trim());
    },
    // Creates the account on the sign-in service, then signs in; the server makes its user document.
    sign_up: ({ email, password }) => {
      authService();
      email = String(email || "").trim();
      if (!wellFormed(email)) throw err("invalid_email", "That is not an email address.");
      const key = email.toLowerCase();
      if (signups[key] || db.users.some((u) => String(u.email).toLowerCase() === key)) {
        throw err("email_in_use", "An account already uses this email. Sign in instead, or reset the password.");
      }
      if (String(password || "").length < 6) throw err("weak_password", "Choose a stronger password: at least 6 characters.");
      const user_id = newId("user");
      signups[key] = { user_id, password };
      db.users.push({
        _id: user_id, email, display_name: email.split("@")[0], photo_url: null, email_verified: false, account_status: "active",
        created_at: now(), last_login_at: now(), last_active_at: now(), updated_at: now(), version: 1,
        credits: { balance: 0, total_purchased: 0, total_spent: 0, last_purchase_at: null },
      });
      return enter(user_id, email);
    },
    // Answers the same whether or not an account uses the email.
    send_password_reset: ({ email }) => {
      authService();
      if (!wellFormed(email)) throw err("invalid_email", "That is not an email address.");
      resets.push(String(email).trim());
      return null;
    },
    sign_out: () => {
      account = null;
      return null;
    },
    publish_listing: ({ listingId }) => {
      online();
      const l = must("marketplace_listings", listingId);
      if (l.status !== "draft" && l.status !== "rejected") throw err("wrong_state", "Only drafts can be published.");
      l.status = "pending";
      l.moderation_status = "under_review";
      l.published_at = now();
      touch(l);
      return { document: clone(l), balance: null, delivered_prompt_id: null };
    },
    buy_listing: ({ listingId, expectedPrice }) => {
      online();
      const l = must("marketplace_listings", listingId);
      if (l.seller_id === ME) throw err("own_listing", "You can't buy your own listing.");
      if (l.price !== expectedPrice) throw err("price_changed", `The price changed to ${l.price} credits.`);
      if (balance() < l.price) throw err("insufficient_credits", `You need ${l.price} credits but have ${balance()}.`);
      db.users[0].credits.balance -= l.price;
      const copy = prompt({ _id: newId("prompt"), title: l.title, content: "Bought content", created_at: now(), updated_at: now() });
      db.prompts.push(copy);
      addVersion(copy, "Bought");
      const pu = purchase({ listing_id: l._id, seller_id: l.seller_id, prompt_id: copy._id, amount: l.price, created_at: now() });
      db.marketplace_purchases.push(pu);
      return { document: clone(pu), balance: balance(), delivered_prompt_id: copy._id };
    },
    refund_purchase: ({ purchaseId, reason }) => {
      online();
      const pu = must("marketplace_purchases", purchaseId);
      if (pu.refund.status) throw err("already_refunded", "This purchase was already refunded.");
      pu.refund = { amount: pu.amount, reason, requested_at: now(), processed_at: now(), status: "processed" };
      pu.payment_status = "refunded";
      db.users[0].credits.balance += pu.amount;
      return { document: clone(pu), balance: balance(), delivered_prompt_id: null };
    },
    review_purchase: ({ purchaseId, rating, review }) => {
      if (rating < 1 || rating > 5) throw err("invalid", "A rating is 1 to 5 stars.");
      online();
      const pu = must("marketplace_purchases", purchaseId);
      if (pu.customer_satisfaction.rating != null) throw err("already_reviewed", "You already reviewed this purchase.");
      pu.customer_satisfaction = { rating, review, would_recommend: rating >= 4, reviewed_at: now() };
      db.reviews.push({ _id: newId("review"), prompt_id: pu.prompt_id, user_id: ME, rating, review, created_at: now(), helpful_count: 0, version: 1 });
      return { document: clone(pu), balance: null, delivered_prompt_id: null };
    },
    team_request: ({ request }) => teamRequest(request),
    share_request: ({ request }) => shareRequest(request),
    dashboard: ({ request }) => insights.dashboard(request),
    record_event: ({ report }) => insights.recordEvent(report),
    "plugin:event|listen": ({ event, handler }) => {
      const id = evId++;
      (listeners[event] = listeners[event] || []).push({ id, handler });
      return id;
    },
    "plugin:event|unlisten": ({ event, eventId }) => {
      listeners[event] = (listeners[event] || []).filter((l) => l.id !== eventId);
      return null;
    },
  };

  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener: (event, id) => {
      listeners[event] = (listeners[event] || []).filter((l) => l.id !== id);
    },
  };
  window.__TAURI_INTERNALS__ = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } },
    transformCallback: (cb, once) => {
      const id = cbId++;
      callbacks.set(id, (x) => {
        if (once) callbacks.delete(id);
        return cb && cb(x);
      });
      return id;
    },
    unregisterCallback: (id) => callbacks.delete(id),
    convertFileSrc: (p) => p,
    invoke: (cmd, args) =>
      new Promise((resolve, reject) => {
        args = clone(args || {});
        if (!cmd.startsWith("plugin:")) calls.push({ cmd, args });
        setTimeout(() => {
          try {
            if (failures[cmd]) {
              const e = failures[cmd];
              delete failures[cmd];
              throw e;
            }
            const f = commands[cmd];
            if (!f) throw err("unknown_command", "Unknown command " + cmd);
            const answer = f(args);
            resolve(DOCUMENT_ANSWERS.has(cmd) ? unset(answer) : answer);
          } catch (e) {
            reject(e);
          }
        }, 1);
      }),
  };
  window.__fake = {
    db,
    calls,
    emit,
    setStatus,
    /** Another device's news about who has a prompt open: a "presence" event (null: nothing). */
    presence: (view) => {
      if (!view || (presenceOpen && view.prompt_id === presenceOpen.promptId)) presenceView = clone(view);
      emit("presence", view);
    },
    presenceOpen: () => clone(presenceOpen),
    failNext: (cmd, code, message) => {
      failures[cmd] = err(code, message);
    },
    callsOf: (cmd) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    /** The emails password-reset links were sent to. */
    resets: () => resets.slice(),
    /** The team requests sent so far (the `request` argument of each team_request). */
    teamRequests: () => calls.filter((c) => c.cmd === "team_request").map((c) => c.args.request),
    /** The sharing requests sent so far (the `request` argument of each share_request). */
    shareRequests: () => calls.filter((c) => c.cmd === "share_request").map((c) => c.args.request),
    /** Someone (`by`) invites Ada to a team: the invitation and its notification, then a "library-changed". */
    inviteMe: (teamId, role = "editor", by = "user-3") => {
      const t = [...db.teams, ...serverTeams].find((x) => x._id === teamId);
      if (!t) throw new Error("no team " + teamId);
      invitations[teamId + "/" + ME] = { role, invited_by: by, at: now() };
      teamNotify(ME, teamId, "Team invitation", `You are invited to join ${t.name} as ${role}. Accept or decline it in Teams.`);
      emit("library-changed", null);
    },
    /** The usage events kept so far (record_event while analytics are on), each with `at` (ms). */
    events: () => clone(insights.events),
    /** The dashboard the fake answers for a request, to compare with what is drawn. */
    dashboardFor: (request) => clone(insights.dashboard(request)),
    /** A team as the server holds it (in the library or not). */
    team: (teamId) => clone([...db.teams, ...serverTeams].find((x) => x._id === teamId)),
  };
})();
