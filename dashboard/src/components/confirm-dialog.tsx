import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ErrorAlert } from './error-alert.js';

/**
 * A modal confirmation (native `<dialog>`: focus
 * moves to Cancel, Escape closes it, the page behind is inert), for any action:
 * `onConfirm` runs it; its failure is shown in the dialog, which stays open.
 */
export function ConfirmDialog(props: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** `danger` for actions that take something away; the accent colour otherwise. */
  tone?: 'danger' | 'primary';
  testId?: string;
  errorPrefix?: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const onCloseRef = useRef(props.onClose);
  onCloseRef.current = props.onClose;
  const id = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    cancelRef.current?.focus();
    const closed = () => onCloseRef.current();
    dialog.addEventListener('close', closed);
    return () => dialog.removeEventListener('close', closed);
  }, []);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={`${id}-title`} aria-describedby={`${id}-desc`}>
      <h2 id={`${id}-title`}>{props.title}</h2>
      <div id={`${id}-desc`}>{props.children}</div>
      <ErrorAlert error={error} prefix={props.errorPrefix ?? 'Failed'} />
      <div className="dialog-actions">
        <button type="button" className="secondary" ref={cancelRef} onClick={() => ref.current?.close()} disabled={busy}>
          Cancel
        </button>
        <button type="button" className={props.tone === 'danger' ? 'danger' : undefined} data-testid={props.testId} onClick={() => void confirm()} disabled={busy}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
