// A prompt's version history: any two versions compared line by line, and a
// restore of one as a new version.
import { useCallback, useEffect, useMemo, useState } from "react";
import { api } from "../../api";
import type { Prompt } from "../../bindings/Prompt";
import type { PromptVersion } from "../../bindings/PromptVersion";
import { useApp } from "../../ctx";
import { Empty, Modal } from "../../ui";
import { diffLines, fmtDate } from "../../util";

export function HistoryDialog(props: { prompt: Prompt; onClose: () => void; onRestored: (p: Prompt) => void }) {
  const { error, notify } = useApp();
  const [versions, setVersions] = useState<PromptVersion[] | null>(null);
  const [a, setA] = useState<number | null>(null);
  const [b, setB] = useState<number | null>(null);
  const [restoring, setRestoring] = useState<number | null>(null);

  const load = useCallback(async () => {
    try {
      const v = (await api.promptVersions(props.prompt._id)).slice().sort((x, y) => y.version_number - x.version_number);
      setVersions(v);
      if (v.length) {
        setB(v[0].version_number);
        setA(v.length > 1 ? v[1].version_number : v[0].version_number);
      }
    } catch (e) {
      error(e);
      setVersions([]);
    }
  }, [props.prompt._id, error]);
  useEffect(() => {
    void load();
  }, [load]);

  const va = versions?.find((v) => v.version_number === a);
  const vb = versions?.find((v) => v.version_number === b);
  const diff = useMemo(() => (va && vb ? diffLines(va.content, vb.content) : []), [va, vb]);
  const added = diff.filter((d) => d.kind === "add").length;
  const removed = diff.filter((d) => d.kind === "del").length;

  const restore = async (n: number) => {
    setRestoring(n);
    try {
      const p = await api.restorePromptVersion(props.prompt._id, n);
      notify(`Restored v${n}`);
      props.onRestored(p);
      await load();
    } catch (e) {
      error(e);
    } finally {
      setRestoring(null);
    }
  };

  return (
    <Modal title={`History of “${props.prompt.title}”`} onClose={props.onClose} wide testid="history-dialog">
      {versions === null ? (
        <p>Loading…</p>
      ) : versions.length === 0 ? (
        <Empty>No saved versions yet. Each save of new content makes one.</Empty>
      ) : (
        <div className="history">
          <table className="versions">
            <thead>
              <tr>
                <th title="Compare from">A</th>
                <th title="Compare to">B</th>
                <th>Version</th>
                <th>Saved</th>
                <th>Changes</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v._id} data-testid="version-row" className={v.version_number === a || v.version_number === b ? "picked" : ""}>
                  <td>
                    <input type="radio" name="ver-a" aria-label={`Compare from v${v.version_number}`} data-testid="version-a" checked={a === v.version_number} onChange={() => setA(v.version_number)} />
                  </td>
                  <td>
                    <input type="radio" name="ver-b" aria-label={`Compare to v${v.version_number}`} data-testid="version-b" checked={b === v.version_number} onChange={() => setB(v.version_number)} />
                  </td>
                  <td>
                    <strong>v{v.version_number}</strong>
                    {v._id === props.prompt.latest_version_id && <span className="chip" data-testid="version-current">current</span>}
                  </td>
                  <td>{fmtDate(v.created_at)}</td>
                  <td className="muted">{v.changes}</td>
                  <td>
                    <button className="small" data-testid="version-restore" disabled={restoring != null} onClick={() => restore(v.version_number)}>
                      Restore
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {va && vb && (
            <div className="diff" data-testid="diff">
              <div className="diff-head">
                Comparing <strong>v{va.version_number}</strong> → <strong>v{vb.version_number}</strong>:{" "}
                <span className="add-text" data-testid="diff-added-count">+{added}</span> <span className="del-text" data-testid="diff-removed-count">−{removed}</span>
              </div>
              <pre>
                {diff.map((d, i) => (
                  <div key={i} className={"dl " + d.kind} data-testid={d.kind === "add" ? "diff-add" : d.kind === "del" ? "diff-del" : "diff-same"}>
                    <span className="ln">{d.a ?? ""}</span>
                    <span className="ln">{d.b ?? ""}</span>
                    <span className="sign">{d.kind === "add" ? "+" : d.kind === "del" ? "−" : " "}</span>
                    <span className="txt">{d.text || " "}</span>
                  </div>
                ))}
              </pre>
            </div>
          )}
        </div>
      )}
    </Modal>
  );
}
