/** One entry of a LocalAI backend gallery (`backend/index.yaml`), after YAML merge keys are applied. */
export interface GalleryEntry {
  name: string;
  /** The gallery this entry came from (its configured name). */
  gallery: string;
  /** Where that gallery was loaded from (recorded as `gallery_url` on install). */
  galleryUrl: string;
  alias?: string;
  uri?: string;
  mirrors: string[];
  /** capability key -> concrete entry name; a meta has this and no `uri`. */
  capabilities?: Record<string, string>;
  version?: string;
  sha256?: string;
  description?: string;
  license?: string;
  icon?: string;
  urls: string[];
  tags: string[];
}

export interface GallerySource {
  /** Short name, used in `gallery@entry` and in reports. */
  name: string;
  /** A file path, a `file://` URL or an `http(s)://` URL. */
  url: string;
}

/** A parse problem that did not stop the rest of the file from loading. */
export interface GalleryWarning {
  index: number;
  name?: string;
  message: string;
}

export interface ParsedGallery {
  entries: GalleryEntry[];
  warnings: GalleryWarning[];
}
