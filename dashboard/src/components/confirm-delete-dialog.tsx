import { useEffect, useRef, useState } from 'react';
import { ErrorAlert } from './error-alert.js';

/**
 * A modal confirmation (native `<dialog>`: focus moves into it, Escape closes it,
 * the page behind is inert). `onConfirm` runs the deletion; its failure is shown in the dialog.
 */
export function ConfirmDeleteDialog({ name, namespace, onConfirm, onClose }: { name: string; namespace: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    cancelRef.current?.focus();
    const closed = () => onCloseRef.current();
    dialog.addEventListener('close', closed);
    // Unmounting removes the dialog from the document, which ends its modal state.
    return () => dialog.removeEventListener('close', closed);
  }, []);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="delete-title" aria-describedby="delete-desc">
      <h2 id="delete-title">Delete {name}?</h2>
      <p id="delete-desc">
        This stops every replica of <strong>{name}</strong> in namespace <code>{namespace}</code> and removes the function. This cannot be undone.
      </p>
      <ErrorAlert error={error} prefix="Delete failed" />
      <div className="dialog-actions">
        <button type="button" className="secondary" ref={cancelRef} onClick={() => ref.current?.close()} disabled={busy}>
          Cancel
        </button>
        <button type="button" className="danger" data-testid="confirm-delete" onClick={() => void confirm()} disabled={busy}>
          Delete {name}
        </button>
      </div>
    </dialog>
  );
}
