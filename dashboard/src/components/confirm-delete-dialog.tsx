import { ConfirmDialog } from './confirm-dialog.js';

/** Asks before deleting a function; `onConfirm` runs the deletion, its failure is shown in the dialog. */
export function ConfirmDeleteDialog({ name, namespace, onConfirm, onClose }: { name: string; namespace: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  return (
    <ConfirmDialog title={`Delete ${name}?`} confirmLabel={`Delete ${name}`} tone="danger" testId="confirm-delete" errorPrefix="Delete failed" onConfirm={onConfirm} onClose={onClose}>
      <p>
        This stops every replica of <strong>{name}</strong> in namespace <code>{namespace}</code> and removes the function. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
