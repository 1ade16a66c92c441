import { useId, useState, type InputHTMLAttributes, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

export interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  label: string;
  /** The error under the field (also marks it aria-invalid, so the form focuses it first). */
  error?: string | null | undefined;
  /** Help under the label, read with the field. */
  description?: ReactNode;
  /** Drawn at the end of the input row (a show-password toggle). */
  trailing?: ReactNode;
}

/** A text input with a visible label: found by its accessible name, its error read with it. */
export function Field({ label, error, description, trailing, className, ...input }: FieldProps) {
  const id = useId();
  const describedBy = [description ? `${id}-desc` : null, error ? `${id}-err` : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' field--invalid' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>{label}</label>
      {description ? (
        <div id={`${id}-desc`} className="field__desc">
          {description}
        </div>
      ) : null}
      <div className="field__row">
        <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...input} />
        {trailing}
      </div>
      {error ? (
        <p id={`${id}-err`} className="field__error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** A password field with a show/hide toggle (a real button, reachable by keyboard). */
export function PasswordField(props: Omit<FieldProps, 'type' | 'trailing'>) {
  const { t } = useTranslation();
  const [shown, setShown] = useState(false);
  return (
    <Field
      {...props}
      type={shown ? 'text' : 'password'}
      trailing={
        <button type="button" className="field__toggle" aria-pressed={shown} onClick={() => setShown((s) => !s)}>
          {shown ? t('hidePassword') : t('showPassword')}
        </button>
      }
    />
  );
}
