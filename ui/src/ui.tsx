import { useEffect, useRef, type ReactNode } from "react";

export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  testid?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(props.onClose);
  close.current = props.onClose;
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, textarea, select, button:not(.modal-x)");
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        // Only the top-most dialog closes.
        const all = document.querySelectorAll(".modal");
        if (all[all.length - 1] === ref.current) {
          e.preventDefault();
          e.stopPropagation();
          close.current();
        }
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
      prev?.focus?.();
    };
  }, []);
  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div
        className={"modal" + (props.wide ? " wide" : "")}
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        ref={ref}
        data-testid={props.testid}
      >
        <header>
          <h2>{props.title}</h2>
          <button className="modal-x icon" aria-label="Close" onClick={props.onClose} data-testid="dialog-close">
            ×
          </button>
        </header>
        <div className="modal-body">{props.children}</div>
        {props.footer && <footer>{props.footer}</footer>}
      </div>
    </div>
  );
}

export function Confirm(props: {
  title: string;
  children: ReactNode;
  confirmText: string;
  onConfirm: () => void;
  onClose: () => void;
  busy?: boolean;
}) {
  return (
    <Modal
      title={props.title}
      onClose={props.onClose}
      testid="confirm-dialog"
      footer={
        <>
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" disabled={props.busy} onClick={props.onConfirm} data-testid="confirm-ok">
            {props.confirmText}
          </button>
        </>
      }
    >
      {props.children}
    </Modal>
  );
}

export function Field(props: { label: string; children: ReactNode; wide?: boolean }) {
  return (
    <label className={"field" + (props.wide ? " wide" : "")}>
      <span>{props.label}</span>
      {props.children}
    </label>
  );
}

export function Empty(props: { children: ReactNode; testid?: string }) {
  return (
    <div className="empty" data-testid={props.testid ?? "empty"}>
      {props.children}
    </div>
  );
}

export function Badge(props: { n: number; testid?: string }) {
  if (!props.n) return null;
  return (
    <span className="badge" data-testid={props.testid}>
      {props.n > 99 ? "99+" : props.n}
    </span>
  );
}

export function Select<T extends string>(props: {
  value: T | "";
  options: readonly T[];
  onChange: (v: T | "") => void;
  any?: string;
  testid?: string;
  label?: string;
}) {
  return (
    <select
      value={props.value}
      aria-label={props.label}
      data-testid={props.testid}
      onChange={(e) => props.onChange(e.target.value as T | "")}
    >
      {props.any !== undefined && <option value="">{props.any}</option>}
      {props.options.map((o) => (
        <option key={o} value={o}>
          {o.replace(/_/g, " ")}
        </option>
      ))}
    </select>
  );
}

export function Progress(props: { value: number; max?: number; testid?: string }) {
  const max = props.max ?? 100;
  const pct = max > 0 ? Math.max(0, Math.min(100, (props.value / max) * 100)) : 0;
  return (
    <div className="progress" role="progressbar" aria-valuenow={Math.round(pct)} aria-valuemin={0} aria-valuemax={100} data-testid={props.testid}>
      <div style={{ width: pct + "%" }} />
    </div>
  );
}

export const enums = {
  promptStatus: ["draft", "active", "archived"] as const,
  visibility: ["private", "shared", "public", "marketplace"] as const,
  difficulty: ["beginner", "intermediate", "advanced", "expert"] as const,
  promptType: ["text", "structured", "template", "workflow"] as const,
  ideaStatus: ["raw", "reviewed", "developing", "testing", "implemented", "abandoned"] as const,
  priority: ["low", "medium", "high", "urgent"] as const,
  complexity: ["simple", "moderate", "complex", "expert"] as const,
  projectStatus: ["planning", "active", "completed", "archived"] as const,
  theme: ["light", "dark", "system"] as const,
};
