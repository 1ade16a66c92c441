import { createContext, useContext, type ReactNode } from 'react';
import type { paths } from '../api/schema';

/** GET /v1/experience: brand, languages, redirect origins, sign-in rules. */
export type Experience = paths['/v1/experience']['get']['responses'][200]['content']['application/json'];

const ExperienceContext = createContext<Experience | null>(null);

export function ExperienceProvider({ value, children }: { value: Experience; children: ReactNode }) {
  return <ExperienceContext.Provider value={value}>{children}</ExperienceContext.Provider>;
}

/** The brand and rules of this server (GET /v1/experience), loaded before any page draws. */
export function useExperience(): Experience {
  const value = useContext(ExperienceContext);
  if (!value) throw new Error('useExperience outside ExperienceProvider');
  return value;
}
