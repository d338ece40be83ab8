// The sync server's side of what only it decides, for the fake back end
// (fake-backend.js, injected after this, calls window.__fakeServer with its
// internals): team_request as server/src/teams.rs decides it, and
// share_request as server/src/sharing.rs does, both simplified. With the
// option `sharedWithMe`, it also seeds documents other people shared with
// Ada (a prompt to view, a project to edit, an idea).
(() => {
  const COLLECTIONS = ["prompts", "ideas", "projects"];
  const MAX_SHARES = 100;

  window.__fakeServer = (ctx) => ({ teams: teams(ctx), shareRequest: sharing(ctx) });

  // Teams: answers { teamRequest, teamNotify }.
  function teams(ctx) {
    const { db, ME, err, clone, now, touch, emit, reachable, serverTeams, invitations, make } = ctx;
    const { team, member, notification } = make;
    const RANK = { viewer: 0, editor: 1, admin: 2, owner: 3 };
    const ROLES = Object.keys(RANK);
    const refuse = (reason, message) => err(reason, message);
    function mayManage(actor, target, to) {
      if (actor === "owner") return target !== "owner";
      if (actor === "admin") return RANK[target] < RANK.admin && (to == null || RANK[to] < RANK.admin);
      return false;
    }
    function teamNotify(user, teamId, title, message) {
      db.notifications.push(notification({
        user_id: user, title, message, action_text: "Open Teams", action_url: "https://promptforge.ai/teams/" + teamId, category: "teams",
        created_at: now(), updated_at: now(),
      }));
    }
    function changedTeam(t) {
      t.member_count = Object.keys(t.members).length;
      t.stats.active_members = t.member_count;
      t.version += 1;
      touch(t);
      // Like the app: a sync follows a done operation and says the library changed.
      setTimeout(() => emit("library-changed", null), 5);
      return clone(t);
    }
    function teamRequest(r) {
      if (!r || typeof r !== "object" || !r.op) throw err("invalid", "request: missing field `op`");
      reachable();
      const id = r.team_id;
      if (typeof id !== "string" || !id || id.length > 128 || /[.$]/.test(id)) throw refuse("invalid", "team_id must be 1-128 characters, without `.` or `$`");
      if (r.op === "create") {
        const name = String(r.name || "").trim();
        if (!name || name.length > 100) throw refuse("invalid", "name must be 1-100 characters");
        const existing = db.teams.find((t) => t._id === id) || serverTeams.find((t) => t._id === id);
        if (existing) {
          if (existing.created_by === ME && existing.deleted_at == null) return clone(existing);
          throw refuse("invalid", `team_id \`${id}\` is taken; pick another`);
        }
        const t = team({ _id: id, name, description: (r.description || "").trim() || null, created_at: now(), updated_at: now(), members: { [ME]: member("owner") }, member_count: 1 });
        t.version = 0;
        db.teams.push(t);
        return changedTeam(t);
      }
      const live = (t) => t && t.deleted_at == null;
      if (r.op === "accept" || r.op === "decline") {
        const t = [...db.teams, ...serverTeams].find((x) => x._id === id && live(x));
        if (!t) throw refuse("not_found", `no team \`${id}\``);
        const inv = invitations[id + "/" + ME];
        if (r.op === "decline") {
          delete invitations[id + "/" + ME];
          if (inv) teamNotify(inv.invited_by, id, "Invitation declined", `${ME} declined to join ${t.name}.`);
          return { _id: id, name: t.name };
        }
        if (t.members[ME]) return clone(t);
        if (!inv) throw refuse("not_invited", `no invitation to \`${id}\` waits for you (or it waits for an owner's or admin's approval)`);
        delete invitations[id + "/" + ME];
        t.members[ME] = member(inv.role, now(), inv.invited_by);
        const k = serverTeams.indexOf(t);
        if (k >= 0) {
          serverTeams.splice(k, 1);
          db.teams.push(t);
        }
        teamNotify(inv.invited_by, id, "Invitation accepted", `${ME} joined ${t.name}.`);
        return changedTeam(t);
      }
      const t = db.teams.find((x) => x._id === id && live(x));
      const actor = t && t.members[ME] ? t.members[ME].role : null;
      if (!t || !actor) throw refuse("not_found", `no team \`${id}\` you belong to`);
      const target = r.user_id != null ? (t.members[r.user_id] || null) : null;
      switch (r.op) {
        case "invite": {
          const role = r.role || "editor";
          if (typeof r.email !== "string" || !r.email.includes("@")) throw refuse("invalid", "email must be an email address");
          if (!ROLES.includes(role)) throw refuse("invalid", `role: unknown variant \`${role}\``);
          if (role === "owner") throw refuse("invalid", "role: nobody is invited as owner; transfer the team instead");
          const manager = actor === "owner" || actor === "admin";
          if (!manager && !(t.settings.allow_invites && actor === "editor")) throw refuse("forbidden", "only the team's owner and admins invite (editors too when the team allows invites)");
          if (RANK[role] > RANK[actor]) throw refuse("forbidden", `you are ${actor}: you cannot invite someone as ${role}`);
          const who = db.users.find((u) => u.email.toLowerCase() === r.email.trim().toLowerCase());
          if (!who) throw refuse("unknown_email", "no PromptForge account uses that email; ask them to sign up first");
          if (t.members[who._id]) throw refuse("already_member", `${r.email} is already in ${t.name}`);
          invitations[id + "/" + who._id] = { role, invited_by: ME, at: now() };
          return clone(t);
        }
        case "set_role": {
          if (!ROLES.includes(r.role)) throw refuse("invalid", `role: unknown variant \`${r.role}\``);
          if (r.role === "owner") throw refuse("invalid", "role: owner is given by transfer, not set");
          if (!target) throw refuse("not_found", `${r.user_id} is not in ${t.name}`);
          if (r.user_id === ME) throw refuse("forbidden", "nobody changes their own role");
          if (!mayManage(actor, target.role, r.role)) throw refuse("forbidden", `you are ${actor}: you cannot make a ${target.role} ${r.role}`);
          target.role = r.role;
          if (Array.isArray(r.permissions)) target.permissions = r.permissions.slice();
          return changedTeam(t);
        }
        case "remove": {
          if (!target) throw refuse("not_found", `${r.user_id} is not in ${t.name}`);
          if (target.role === "owner") throw refuse("owner_stays", "the owner stays: transfer the team first");
          if (r.user_id === ME) throw refuse("invalid", "to go yourself, leave the team");
          if (!mayManage(actor, target.role)) throw refuse("forbidden", `you are ${actor}: you cannot remove a ${target.role}`);
          delete t.members[r.user_id];
          return changedTeam(t);
        }
        case "leave": {
          if (actor === "owner") throw refuse("owner_stays", "the owner cannot leave; transfer the team first");
          delete t.members[ME];
          return changedTeam(t);
        }
        case "transfer": {
          if (actor !== "owner") throw refuse("forbidden", "only the owner hands the team over");
          if (!target) throw refuse("not_found", `${r.user_id} is not in ${t.name}`);
          if (r.user_id === ME) return clone(t);
          target.role = "owner";
          t.members[ME].role = "admin";
          return changedTeam(t);
        }
        case "delete": {
          if (actor !== "owner") throw refuse("forbidden", "only the owner deletes the team");
          t.deleted_at = now();
          t.deleted_by = ME;
          return changedTeam(t);
        }
        default:
          throw err("invalid", `request: unknown variant \`${r.op}\``);
      }
    }
    return { teamRequest, teamNotify };
  }

  // Sharing (server/src/sharing.rs, simplified).
  function sharing(ctx) {
    const { db, ME, opts, err, now, emit, reachable, make, d } = ctx;

    if (opts.sharedWithMe && !opts.empty) {
      db.prompts.push(make.prompt({
        _id: "sp1", user_id: "user-2", created_by: "user-2", last_modified_by: "user-2", title: "Bob's style guide", content: "Write like Bob.",
        category: "writing", status: "active", updated_at: d(400), created_at: d(20),
        collaboration: { is_collaborative: true, allowed_users: [ME, "user-3"], permissions: { [ME]: "read", "user-3": "write" }, active_editors: [], last_edited_by: null, lock_expiry: null },
      }));
      db.projects.push(make.project({
        _id: "sproj1", user_id: "user-2", created_by: "user-2", last_modified_by: "user-2", title: "Bob's roadmap", updated_at: d(50),
        collaboration: { visibility: "private", allowed_users: [ME], permissions: { [ME]: "write" }, team_id: null },
      }));
      db.ideas.push(make.idea({ _id: "si1", user_id: "user-3", created_by: "user-3", title: "Cy's podcast idea", description: "Weekly prompts", shared_with: [ME], updated_at: d(25) }));
    }

    function readers(col, doc) {
      if (col === "ideas") return Array.isArray(doc.shared_with) ? doc.shared_with.slice() : [];
      const users = doc.collaboration && doc.collaboration.allowed_users;
      return Array.isArray(users) ? users.slice() : [];
    }
    // As the server reads it: ideas are shared to view; only "read" is read-only.
    function permissionOf(col, doc, uid) {
      if (col === "ideas") return "read";
      const perms = (doc.collaboration && doc.collaboration.permissions) || {};
      return perms[uid] === "read" ? "read" : "write";
    }
    function done(col, doc) {
      return {
        version: doc.version,
        shared_with: readers(col, doc).map((uid) => {
          const u = db.users.find((x) => x._id === uid);
          return { user_id: uid, display_name: (u && u.display_name) || null, permission: permissionOf(col, doc, uid) };
        }),
      };
    }
    // Writes the readers and what follows from them; the version moves on.
    function write(col, doc, list) {
      if (col === "ideas") doc.shared_with = list;
      else {
        doc.collaboration = doc.collaboration || {};
        doc.collaboration.allowed_users = list;
        if (col === "prompts") doc.collaboration.is_collaborative = list.length > 0;
        if (col === "projects") doc.stats = Object.assign({}, doc.stats, { collaborator_count: list.length });
      }
      doc.version = (doc.version || 0) + 1;
      doc.updated_at = now();
      // Like the app: the sync round that follows brings the change and says the library changed.
      setTimeout(() => emit("library-changed", null), 5);
    }
    // Like wire::share::check_request: malformed requests, before anything is read.
    function check(r) {
      if (!COLLECTIONS.includes(r.collection)) throw err("invalid", "collection must be prompts, ideas or projects");
      if (typeof r.id !== "string" || !r.id || r.id.length > 128) throw err("invalid", "id must be 1-128 characters");
      if (r.op === "share") {
        const email = typeof r.email === "string" ? r.email.trim() : "";
        if (!email.includes("@") || email.length > 254) throw err("invalid", "email must be an email address");
        if (r.permission !== "read" && r.permission !== "write") throw err("invalid", `permission: unknown variant \`${r.permission}\``);
        if (r.collection === "ideas" && r.permission === "write") throw err("invalid", "permission: ideas are shared to read (an idea keeps no permissions)");
      } else if (r.op === "unshare") {
        if (typeof r.user_id !== "string" || !r.user_id || r.user_id.length > 128 || /[.$]/.test(r.user_id)) {
          throw err("invalid", "user_id must be 1-128 characters, without `.` or `$`");
        }
      } else if (r.op !== "list") throw err("invalid", `request: unknown variant \`${r.op}\``);
    }

    return function shareRequest(r) {
      if (!r || typeof r !== "object" || !r.op) throw err("invalid", "request: missing field `op`");
      reachable();
      check(r);
      const col = r.collection;
      const doc = db[col].find((x) => x._id === r.id && x.deleted_at == null);
      if (!doc) throw err("not_found", `no ${col} \`${r.id}\``);
      // Every document in Ada's library is one she reads: not hers, she learns it exists.
      if (doc.user_id !== ME) throw err("forbidden", "only the owner shares it or takes it back");
      const list = readers(col, doc);
      if (r.op === "list") return done(col, doc);
      if (r.op === "share") {
        const email = r.email.trim().toLowerCase();
        const who = db.users.find((u) => (u.email || "").toLowerCase() === email);
        if (!who) throw err("unknown_email", "no PromptForge account uses that email; ask them to sign up first");
        if (who._id === ME) throw err("invalid", "email: that is you, the owner");
        const newcomer = !list.includes(who._id);
        if (newcomer && list.length >= MAX_SHARES) throw err("invalid", `it is shared with ${MAX_SHARES} people already, the most it may be`);
        if (!newcomer && permissionOf(col, doc, who._id) === r.permission) return done(col, doc);
        if (newcomer) list.push(who._id);
        if (col !== "ideas") {
          doc.collaboration = doc.collaboration || {};
          doc.collaboration.permissions = Object.assign({}, doc.collaboration.permissions, { [who._id]: r.permission });
        }
        write(col, doc, list);
        return done(col, doc);
      }
      // unshare
      const perms = col === "ideas" ? {} : (doc.collaboration && doc.collaboration.permissions) || {};
      if (!list.includes(r.user_id) && !(r.user_id in perms)) return done(col, doc);
      if (col !== "ideas") {
        const rest = Object.assign({}, perms);
        delete rest[r.user_id];
        doc.collaboration.permissions = rest;
      }
      write(col, doc, list.filter((u) => u !== r.user_id));
      return done(col, doc);
    };
  }
})();
